"""Recovery times after real faults, and the cost of strict Redis durability.

    .venv/bin/python -m benchmarks.recovery

For each fault: a workload is sent, the fault injected, and the time measured until the
pipeline is idle again with PostgreSQL equal to the reference model (the same harness as
``tests/faults``). Then the ingest rate with Redis ``appendfsync everysec`` vs ``always``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from aggregator.db import migrate
from devstack.servers import PostgresServer, RedisServer, free_port
from tests.faults.harness import Stack, compare, send, wait_idle, workload


async def _fresh(root: Path, name: str, fsync: str = "everysec") -> tuple[RedisServer,
                                                                          PostgresServer]:
    redis = RedisServer(root / f"{name}-redis", free_port(), appendfsync=fsync)  # type: ignore[arg-type]
    pg = PostgresServer(root / f"{name}-pg", free_port())
    redis.start()
    pg.start()
    await migrate(pg.url)
    return redis, pg


async def worker_kill(root: Path) -> dict[str, Any]:
    redis, pg = await _fresh(root, "wk")
    stack = Stack(redis.url, pg.url, root)
    try:
        stack.start_serve()
        await stack.wait_http()
        events = workload(seed=11, n=2000, users=50)
        report = await send(stack.url, events, seed=11, batch=50)
        crashing = stack.start_worker(crash="after_commit")
        crashing.wait(60)
        killed = time.monotonic()
        stack.start_worker()
        await wait_idle(redis.url, 120)
        took = time.monotonic() - killed
        result = await compare(pg.url, events, report.accepted_ids)
        return {"fault": "worker SIGKILL after commit, before ack (lease 3 s)",
                "recovered_s": round(took, 2), "exact": result.exact}
    finally:
        stack.stop()
        pg.stop()
        redis.stop()


async def redis_restart(root: Path) -> dict[str, Any]:
    redis, pg = await _fresh(root, "rr")
    stack = Stack(redis.url, pg.url, root)
    try:
        stack.start_serve()
        stack.start_worker()
        await stack.wait_http()
        events = workload(seed=12, n=1000, users=50)
        sender = asyncio.create_task(send(stack.url, events, seed=12, batch=10, pace_s=0.01))
        await asyncio.sleep(1.0)
        redis.kill()
        restarted = time.monotonic()
        redis.start()
        back = time.monotonic() - restarted
        report = await sender
        await wait_idle(redis.url, 120)
        result = await compare(pg.url, events, report.accepted_ids)
        return {"fault": "Redis SIGKILL + restart (AOF everysec) during ingest",
                "redis_back_s": round(back, 2), "status_counts": report.statuses,
                "exact": result.exact}
    finally:
        stack.stop()
        pg.stop()
        redis.stop()


async def postgres_outage(root: Path, outage_s: float = 10) -> dict[str, Any]:
    redis, pg = await _fresh(root, "po")
    stack = Stack(redis.url, pg.url, root)
    try:
        stack.start_serve()
        stack.start_worker()
        await stack.wait_http()
        events = workload(seed=13, n=1000, users=50)
        warm = await send(stack.url, events[:50], seed=13)
        pg.stop(mode="immediate")
        report = await send(stack.url, events[50:], seed=13, batch=25)
        await asyncio.sleep(outage_s)
        pg.start()
        restarted = time.monotonic()
        await wait_idle(redis.url, 120)
        took = time.monotonic() - restarted
        result = await compare(pg.url, events, warm.accepted_ids | report.accepted_ids)
        return {"fault": f"PostgreSQL stopped (immediate) for {outage_s:.0f} s during ingest",
                "drained_after_restart_s": round(took, 2), "exact": result.exact}
    finally:
        stack.stop()
        pg.stop()
        redis.stop()


async def durability_cost(root: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fsync in ("everysec", "always"):
        redis, pg = await _fresh(root, f"d-{fsync}", fsync)
        stack = Stack(redis.url, pg.url, root)
        try:
            stack.start_serve()
            await stack.wait_http()
            events = workload(seed=14, n=20000, users=2000)
            start = time.monotonic()
            report = await send(stack.url, events, seed=14, batch=100)
            out[f"accepted_per_s_{fsync}"] = round(len(report.accepted_ids) /
                                                   (time.monotonic() - start))
        finally:
            stack.stop()
            pg.stop()
            redis.stop()
    return out


async def main() -> list[dict[str, Any]]:
    root = Path(tempfile.mkdtemp(prefix="waymark-recovery-"))
    root.chmod(0o755)
    os.environ.setdefault("WAYMARK_LOG_LEVEL", "error")
    try:
        return [await worker_kill(root), await redis_restart(root),
                await postgres_outage(root), await durability_cost(root)]
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print(json.dumps(asyncio.run(main()), indent=2))
