"""Thousands of live streams (SSE) open while the heartbeat workload runs.

    .venv/bin/python -m benchmarks.sse_fanout --connections 10000 --seconds 20

Starts its own Redis and PostgreSQL, one HTTP server and ``--workers`` workers as subprocesses
(like ``benchmarks.quick_e2e``), then from this process:

1. runs the heartbeat workload (batches of ``chapter_progress`` for the learners that will
   hold streams) for ``--seconds`` with no stream open: accepted events/s;
2. opens ``--connections`` streams, one per learner (``GET /v1/users/{id}/stream``), and
   notes the server's RSS;
3. runs the same workload again with every stream open, while a probe every 0.25 s sends a
   ``chapter_completed`` for a random connected learner and times its arrival on that
   learner's stream (POST sent -> SSE event read): delivery latency p50/p99.

The heartbeat itself changes no state a stream shows (progress below 100 emits no domain
event), so the streams cost the server their connections, keepalives and the one reader.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from aggregator.db import migrate
from benchmarks.quick_e2e import _load, stop_processes
from benchmarks.run import wait_http
from devstack.servers import PostgresServer, RedisServer, free_port

KEY = "bench-secret"
CATALOG = {"title": "bench", "modules": [{"module_id": "m", "title": "m", "chapters": [
    {"chapter_id": f"ch-{i}", "weight": 1} for i in range(10)]}]}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class Streams:
    """``n`` open streams; each learner's completed chapters land in ``arrived``."""

    def __init__(self, url: str, n: int) -> None:
        self.url, self.n = url, n
        self.arrived: dict[tuple[str, str], float] = {}
        self.events = 0
        self.tasks: list[asyncio.Task[None]] = []

    async def open(self, session: aiohttp.ClientSession) -> None:
        ready = asyncio.Semaphore(200)  # connect in waves, not 10 000 SYNs at once
        opened = [asyncio.Event() for _ in range(self.n)]

        async def stream(i: int) -> None:
            user = f"u{i}"
            async with ready:
                resp = await session.get(f"{self.url}/v1/users/{user}/stream")
                await resp.content.readline()
            opened[i].set()
            async for raw in resp.content:
                line = raw.decode()
                if line.startswith("data: "):
                    self.events += 1
                    data = json.loads(line[6:])
                    chapter = data.get("data", {}).get("chapter_id")
                    if chapter:
                        self.arrived[(user, chapter)] = time.perf_counter()

        self.tasks = [asyncio.create_task(stream(i)) for i in range(self.n)]
        for e in opened:
            await e.wait()

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def probe(url: str, streams: Streams, session: aiohttp.ClientSession, seconds: float,
                out: list[float]) -> None:
    stop = time.monotonic() + seconds
    k = 0
    while time.monotonic() < stop:
        k += 1
        user, chapter = f"u{random.randrange(streams.n)}", f"probe-{k}"
        ev = {"id": f"probe-{k}", "type": "chapter_completed", "user_id": user,
              "course_id": "c-1", "chapter_id": chapter, "ts": int(time.time() * 1000)}
        t0 = time.perf_counter()
        async with session.post(f"{url}/v1/events", json={"events": [ev]}) as r:
            assert r.status == 202, await r.text()
        asyncio.get_running_loop().create_task(_await_arrival(streams, user, chapter, t0, out))
        await asyncio.sleep(0.25)


async def _await_arrival(streams: Streams, user: str, chapter: str, t0: float,
                         out: list[float]) -> None:
    for _ in range(600):
        if (user, chapter) in streams.arrived:
            out.append(streams.arrived[(user, chapter)] - t0)
            return
        await asyncio.sleep(0.05)


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


async def main(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="waymark-sse-bench-"))
    root.chmod(0o755)
    redis_srv, pg = RedisServer(root / "redis", free_port()), PostgresServer(root / "pg")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        redis_srv.start()
        pg.start()
        await migrate(pg.url)
        port = free_port()
        env = dict(os.environ, REDIS_URL=redis_srv.url, DATABASE_URL=pg.url,
                   WAYMARK_API_KEYS=f"bench:{KEY}:ingest+read+admin",
                   WAYMARK_HTTP_PORT=str(port), WAYMARK_LOG_LEVEL="warning",
                   WAYMARK_RATE_LIMIT_KEY_RPS="0",
                   WAYMARK_WORKER_METRICS_PORT=str(free_port()))
        server = subprocess.Popen([sys.executable, "-m", "waymark", "serve"], env=env)
        procs.append(server)
        for i in range(args.workers):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "waymark", "worker", "--index", str(i)], env=env))
        url = f"http://127.0.0.1:{port}"
        await wait_http(url)
        headers = {"Authorization": f"Bearer {KEY}"}
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with aiohttp.ClientSession(headers=headers, connector=connector,
                                         timeout=timeout) as session:
            async with session.put(f"{url}/v1/courses/c-1", json=CATALOG) as r:
                assert r.status == 200
            rss_idle = rss_mb(server.pid)
            before, _, took_before = await _load(url, args.seconds, args.clients, args.batch,
                                                 args.connections, 10)
            streams = Streams(url, args.connections)
            t_open = time.perf_counter()
            await streams.open(session)
            opened_s = time.perf_counter() - t_open
            rss_open = rss_mb(server.pid)
            delivery: list[float] = []
            probes = asyncio.create_task(probe(url, streams, session, args.seconds, delivery))
            after, lat, took_after = await _load(url, args.seconds, args.clients, args.batch,
                                                 args.connections, 10)
            await probes
            await asyncio.sleep(2)
            rss_load = rss_mb(server.pid)
            await streams.close()
        return {
            "connections": args.connections, "workers": args.workers,
            "accepted_per_s_without_streams": round(before / took_before),
            "accepted_per_s_with_streams": round(after / took_after),
            "ingest_latency_p99_ms_with_streams": round(pct(lat, 0.99) * 1000, 1),
            "streams_opened_in_s": round(opened_s, 1),
            "server_rss_mb": {"idle": rss_idle, "streams_open": rss_open,
                              "streams_open_under_load": rss_load},
            "delivery_s": {"probes": len(delivery), "p50": round(pct(delivery, .5), 3),
                           "p99": round(pct(delivery, .99), 3),
                           "max": round(max(delivery), 3) if delivery else None},
            "stream_events_received": streams.events,
        }
    finally:
        stop_processes(procs)
        redis_srv.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=50)
    result = asyncio.run(main(parser.parse_args()))
    print(json.dumps(result, indent=2))
