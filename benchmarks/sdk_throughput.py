"""SDK throughput to a local server: events/s from ``ProgressClient`` calls to 202 answers.

    .venv/bin/python -m benchmarks.sdk_throughput --events 100000

Starts Redis + PostgreSQL in a temporary directory and one ``waymark serve`` process, then a
``ProgressClient`` enqueues progress events as fast as the caller can and ``flush()`` waits for
the last batch; the figure is events accepted by the server per second of wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path

from aggregator.db import migrate
from devstack.servers import PostgresServer, RedisServer, free_port
from tests.faults.harness import Stack
from waymark_client import ProgressClient


def drive(url: str, key: str, n: int, flush_at: int) -> dict[str, float]:
    client = ProgressClient(key, base_url=url, flush_at=flush_at, max_queue_size=n + 1,
                            merge_progress=False)
    start = time.perf_counter()
    for i in range(n):
        client.progress(f"u{i % 5000}", "c-1", f"ch-{i % 7}", float(i % 100), time_spent_s=1)
    enqueued = time.perf_counter() - start
    assert client.flush(timeout=300)
    took = time.perf_counter() - start
    stats = client.stats()
    client.close()
    return {"events": n, "flush_at": flush_at, "accepted": stats.accepted,
            "events_per_s": round(stats.accepted / took),
            "enqueue_us_per_event": round(enqueued / n * 1e6, 2)}


async def main(args: argparse.Namespace) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="waymark-sdk-"))
    root.chmod(0o755)
    redis, pg = RedisServer(root / "redis", free_port()), PostgresServer(root / "pg", free_port())
    redis.start()
    pg.start()
    stack = Stack(redis.url, pg.url, root)
    try:
        await migrate(pg.url)
        stack.env["WAYMARK_HIGH_WATER_KEYS"] = str(10_000_000)
        stack.start_serve()
        await stack.wait_http()
        from tests.conftest import INGEST_KEY

        return await asyncio.to_thread(drive, stack.url, INGEST_KEY, args.events, args.flush_at)
    finally:
        stack.stop()
        pg.stop()
        redis.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--flush-at", type=int, default=500)
    print(json.dumps(asyncio.run(main(ap.parse_args()))))
