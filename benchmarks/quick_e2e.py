"""Quick end-to-end measurement: accepted events/s, ingest latency, drain rate, freshness.

Starts its own Redis (AOF everysec) and PostgreSQL in a temporary directory, the HTTP server and
``--workers`` worker processes as subprocesses, then drives load from this process over loopback.

    .venv/bin/python -m benchmarks.quick_e2e --seconds 15 --workers 2

Prints a JSON object and a markdown table. Figures depend on the machine; see
benchmarks/README.md for the ones measured here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from redis.asyncio import Redis

from aggregator.db import migrate
from benchmarks.run import wait_http
from buffer.merge_buffer import MergeBuffer
from devstack.servers import PostgresServer, RedisServer, free_port

KEY = "bench-secret"


def _events(worker: int, n: int, batch: int, users: int, chapters: int) -> list[dict[str, Any]]:
    now = int(time.time() * 1000)
    out = []
    for i in range(batch):
        k = n * batch + i
        out.append({
            "id": f"w{worker}-{k}", "type": "chapter_progress",
            "user_id": f"u{(worker * 7919 + k) % users}", "course_id": "c-1",
            "chapter_id": f"ch-{k % chapters}", "ts": now - 1000,
            "progress": float(k % 100), "position_s": float(k % 600), "time_spent_s": 10,
        })
    return out


async def _load(url: str, seconds: float, clients: int, batch: int, users: int,
                chapters: int) -> tuple[int, list[float], float]:
    latencies: list[float] = []
    accepted = 0
    stop = time.monotonic() + seconds

    async def client(w: int, session: aiohttp.ClientSession) -> None:
        nonlocal accepted
        n = 0
        while time.monotonic() < stop:
            body = {"events": _events(w, n, batch, users, chapters)}
            t0 = time.perf_counter()
            async with session.post(f"{url}/v1/events", json=body) as r:
                res = await r.json()
            latencies.append(time.perf_counter() - t0)
            if r.status == 202:
                accepted += res["accepted"]
            else:
                await asyncio.sleep(0.05)
            n += 1

    headers = {"Authorization": f"Bearer {KEY}"}
    start = time.monotonic()
    async with aiohttp.ClientSession(headers=headers) as session:
        await asyncio.gather(*(client(w, session) for w in range(clients)))
    return accepted, latencies, time.monotonic() - start


async def _wait_drained(buffer: MergeBuffer, limit_s: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        if await buffer.pending_keys() == 0 and await buffer.inflight_batches() == 0:
            return time.monotonic() - start
        await asyncio.sleep(0.05)
    raise RuntimeError("buffer did not drain")


async def _freshness(url: str, probes: int, event_type: str) -> list[float]:
    out = []
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession(headers=headers) as s:
        for i in range(probes):
            user = f"fresh-{event_type}-{i}"
            ev: dict[str, Any] = {"id": f"f-{event_type}-{i}", "type": event_type,
                                  "user_id": user, "course_id": "c-1", "chapter_id": "ch-1",
                                  "ts": int(time.time() * 1000)}
            if event_type == "chapter_progress":
                ev["progress"] = 10.0
            async with s.post(f"{url}/v1/events", json={"events": [ev]}) as r:
                assert r.status == 202
            t0 = time.monotonic()
            while True:
                async with s.get(f"{url}/v1/users/{user}/courses/c-1") as r:
                    if r.status == 200:
                        break
                await asyncio.sleep(0.01)
            out.append(time.monotonic() - t0)
    return out


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every process, then wait for each (SIGKILL after 15 s)."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="waymark-bench-"))
    root.chmod(0o755)
    redis_srv = RedisServer(root / "redis", free_port())
    pg = PostgresServer(root / "pg", free_port())
    procs: list[subprocess.Popen[bytes]] = []
    try:
        redis_srv.start()
        pg.start()
        await migrate(pg.url)
        port = free_port()
        env = dict(os.environ, REDIS_URL=redis_srv.url, DATABASE_URL=pg.url,
                   WAYMARK_API_KEYS=f"bench:{KEY}:ingest+read+admin",
                   WAYMARK_HTTP_PORT=str(port), WAYMARK_LOG_LEVEL="warning",
                   WAYMARK_WORKER_METRICS_PORT=str(free_port()))
        procs.append(subprocess.Popen([sys.executable, "-m", "waymark", "serve"], env=env))
        for i in range(args.workers):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "waymark", "worker", "--index", str(i)], env=env))
        url = f"http://127.0.0.1:{port}"
        await wait_http(url)
        redis = Redis.from_url(redis_srv.url)
        buffer = MergeBuffer(redis, shards=16, merge_window_ms=2000, dedup_window_s=3600,
                             lease_s=30)
        accepted, lat, took = await _load(url, args.seconds, args.clients, args.batch,
                                          args.users, args.chapters)
        drain = await _wait_drained(buffer, 600)
        conn = await asyncpg.connect(pg.url)
        rows = await conn.fetchval("SELECT count(*) FROM chapter_progress")
        await conn.close()
        info = await redis.info("memory")
        fresh_urgent = await _freshness(url, args.probes, "chapter_completed")
        fresh_window = await _freshness(url, args.probes, "chapter_progress")
        await redis.aclose()
        return {
            "workers": args.workers, "clients": args.clients, "batch": args.batch,
            "seconds": round(took, 1), "accepted_events": accepted,
            "accepted_per_s": round(accepted / took),
            "ingest_latency_ms": {q: round(_pct(lat, p) * 1000, 1)
                                  for q, p in (("p50", .5), ("p95", .95), ("p99", .99))},
            "drain_after_load_s": round(drain, 2),
            "applied_per_s": round(accepted / (took + drain)),
            "chapter_rows": rows,
            "redis_used_memory_peak_mb": round(int(info["used_memory_peak"]) / 2**20, 1),
            "freshness_urgent_s": {"p50": round(statistics.median(fresh_urgent), 3),
                                   "max": round(max(fresh_urgent), 3)},
            "freshness_windowed_s": {"p50": round(statistics.median(fresh_window), 3),
                                     "max": round(max(fresh_window), 3)},
        }
    finally:
        stop_processes(procs)
        pg.stop()
        redis_srv.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--users", type=int, default=20000)
    ap.add_argument("--chapters", type=int, default=10)
    ap.add_argument("--probes", type=int, default=20)
    result = asyncio.run(main(ap.parse_args()))
    print(json.dumps(result, indent=2))
