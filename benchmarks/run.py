"""End-to-end benchmark: Waymark against its own ceilings and the naive design, in one run.

    .venv/bin/python -m benchmarks.run --workload heartbeat --seconds 10 --workers 2

Starts Redis (AOF everysec) and PostgreSQL in a temporary directory, then measures in order:
Waymark end to end (``waymark serve`` + workers, load from a separate process), the merge
ceiling, the apply ceiling, and the naive per-event service behind the same HTTP front. Prints
JSON and a markdown table; ratios come from the same run, so they hold on a noisy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from benchmarks.ceilings import apply_ceiling, merge_ceiling
from benchmarks.profiles import start_profilers, top_frames
from benchmarks.servers import cluster_of, commandstats, fresh_servers, peak_memory_mb
from benchmarks.worker_metrics import keys_per_batch, scrape_lag
from buffer.merge_buffer import MergeBuffer
from devstack.cluster import LocalCluster
from devstack.servers import PostgresServer, RedisServer, free_port

KEY = "bench-secret"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """CPU seconds of ``pid`` and of its children already reaped (PostgreSQL's backends)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / TICKS


def memory_mb(pid: int, field: str = "VmHWM") -> float:
    """A memory figure of ``pid`` from /proc (VmHWM: peak RSS, VmRSS: RSS now), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def server_pids(redis: RedisServer, pg: PostgresServer) -> dict[str, list[int]]:
    """The processes of this run's servers: Redis, and PostgreSQL's postmaster with its children
    (backends come and go, so this is read again at each sample)."""
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parents[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    postmaster = pg.pid
    return {"redis": [redis.pid] if redis.pid else [],
            "postgres": [postmaster, *(p for p, pp in parents.items() if pp == postmaster)]
            if postmaster else []}


async def wait_http(url: str) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(200):
            try:
                async with s.get(f"{url}/health") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


def run_load(url: str, args: argparse.Namespace) -> tuple[dict[str, Any], float]:
    """Drive the load from its own process; return its report and its CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.Popen([sys.executable, "-m", "benchmarks.load", "--url", url, "--key", KEY,
                          "--workload", args.workload, "--seconds", str(args.seconds),
                          "--clients", str(args.clients), "--warmup", str(args.warmup)],
                         stdout=subprocess.PIPE)
    out, _ = p.communicate()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return json.loads(out), cpu


async def freshness(url: str, probes: int = 20) -> dict[str, float]:
    waits: list[float] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as s:
        for i in range(probes):
            user = f"fresh-{i}-{time.monotonic_ns()}"
            ev = {"id": user, "type": "chapter_progress", "user_id": user, "course_id": "c-1",
                  "chapter_id": "ch-1", "ts": int(time.time() * 1000), "progress": 10.0}
            async with s.post(f"{url}/v1/events", json={"events": [ev]}) as r:
                assert r.status == 202, await r.text()
            t0 = time.monotonic()
            while True:
                async with s.get(f"{url}/v1/users/{user}/courses/c-1") as r:
                    if r.status == 200:
                        break
                await asyncio.sleep(0.01)
            waits.append(time.monotonic() - t0)
    waits.sort()
    return {"p50_s": round(waits[len(waits) // 2], 3), "p99_s": round(waits[-1], 3)}


class WaymarkProcesses:
    """``waymark serve`` (``ingest`` processes sharing a port) and ``workers`` worker processes
    against ``redis`` and ``pg``; worker ``i`` serves /metrics on ``metrics_base + i``. With
    ``cluster`` the buffer is on it and ``redis`` holds the job queue."""

    def __init__(self, redis: RedisServer, pg: PostgresServer, workers: int, ingest: int,
                 *, start_workers: bool = True, cluster: LocalCluster | None = None) -> None:
        port, self.metrics_base = free_port(), free_port()
        queue = {"WAYMARK_QUEUE_REDIS_URL": redis.url} if cluster else {}
        self.env = env = dict(os.environ, **queue, REDIS_URL=cluster.url if cluster else redis.url,
                              DATABASE_URL=pg.url,
                   WAYMARK_HTTP_PORT=str(port), WAYMARK_API_KEYS=f"bench:{KEY}:ingest+read+admin",
                   WAYMARK_LOG_LEVEL="warning", WAYMARK_WORKER_METRICS_PORT=str(self.metrics_base),
                   WAYMARK_HIGH_WATER_KEYS=str(10_000_000), WAYMARK_HTTP_PROCESSES=str(ingest),
                   WAYMARK_METRICS_LISTEN="api")  # scraped on the API port, as before
        self.serves = [subprocess.Popen([sys.executable, "-m", "waymark", "serve"], env=env)
                       for _ in range(ingest)]
        self.workers: list[subprocess.Popen[bytes]] = []
        self.n_workers = workers
        if start_workers:
            self.start_workers()
        self.url = f"http://127.0.0.1:{port}"
        self.worker_ports = [self.metrics_base + i for i in range(workers)]

    def start_workers(self) -> None:
        self.workers = [
            subprocess.Popen([sys.executable, "-m", "waymark", "worker", "--index", str(i)],
                             env=self.env) for i in range(self.n_workers)
        ]

    def stop(self) -> None:
        for p in [*self.serves, *self.workers]:
            p.send_signal(signal.SIGTERM)
        for p in [*self.serves, *self.workers]:
            p.wait(30)


async def waymark_e2e(redis: RedisServer, pg: PostgresServer, args: argparse.Namespace,
                      cluster: LocalCluster | None = None) -> dict[str, Any]:
    stack = WaymarkProcesses(redis, pg, args.workers, args.ingest, start_workers=not args.phased,
                             cluster=cluster)
    serves, url, metrics_base = stack.serves, stack.url, stack.metrics_base
    nodes = cluster.nodes if cluster else [redis]

    def groups() -> dict[str, list[int]]:
        return {"serve": [p.pid for p in serves], "workers": [w.pid for w in stack.workers],
                **server_pids(redis, pg), "redis": [n.pid for n in nodes if n.pid]}
    try:
        await wait_http(url)
        before = {k: sum(cpu_s(p) for p in v) for k, v in groups().items()}
        procs = {k: v for k, v in groups().items() if k in ("serve", "workers")}
        redis_client: Redis | RedisCluster = (
            RedisCluster.from_url(cluster.url) if cluster else Redis.from_url(redis.url))
        stats_before = await commandstats(nodes)
        spies = (start_profilers(procs, args.warmup + args.seconds, args.profile)
                 if args.profile else [])
        t0 = time.monotonic()
        load, load_cpu = await asyncio.to_thread(run_load, url, args)
        for spy in spies:
            spy.wait(60)
        stats_after = await commandstats(nodes)
        buffer = MergeBuffer(redis_client, shards=16, merge_window_ms=2000, dedup_window_s=3600,
                             lease_s=30)
        drain_t0 = time.monotonic()
        if args.phased:  # the workers only start now: the backlog is drained by them alone
            stack.start_workers()
        while await buffer.pending_keys() or await buffer.inflight_batches():
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - t0
        drain_s = time.monotonic() - drain_t0
        after = {k: sum(cpu_s(p) for p in v) for k, v in groups().items()}
        conn = await asyncpg.connect(pg.url)
        rows = await conn.fetchval("SELECT count(*) FROM chapter_progress")
        await conn.close()
        keys_applied = 0.0
        async with aiohttp.ClientSession() as s:
            for i in range(args.workers):
                async with s.get(f"http://127.0.0.1:{metrics_base + i}/metrics") as r:
                    for line in (await r.text()).splitlines():
                        if line.startswith("waymark_flush_batch_keys_sum"):
                            keys_applied += float(line.rsplit(" ", 1)[1])
        await redis_client.aclose()
        total_accepted = load["accepted_total"]  # warm-up included, as the rows are
        redis_time = {
            cmd: {"calls": calls - stats_before.get(cmd, (0, 0))[0],
                  "cpu_s": round((usec - stats_before.get(cmd, (0, 0))[1]) / 1e6, 2),
                  "us_per_event": round((usec - stats_before.get(cmd, (0, 0))[1])
                                        / max(1, total_accepted), 2)}
            for cmd, (calls, usec) in stats_after.items()
            if usec - stats_before.get(cmd, (0, 0))[1] > 10_000
        }
        profile = ({f.stem: top_frames(f) for f in sorted(args.profile.glob("*.txt"))}
                   if args.profile else {})
        return {
            "ingest": load,
            "applied_events_per_s": round(total_accepted / elapsed),
            "drained_after_s": round(elapsed, 1),
            "phased": args.phased,
            "drain_s": round(drain_s, 2),
            "rows_written": int(keys_applied),
            "chapter_rows": rows,
            "merge_ratio": round(total_accepted / max(1, keys_applied), 2),
            "freshness": await freshness(url, args.probes),
            "event_lag": await scrape_lag([metrics_base + i for i in range(args.workers)]),
            "keys_per_batch": await keys_per_batch(
                [metrics_base + i for i in range(args.workers)]),
            "peak_rss_mb": {"serve": [memory_mb(p.pid) for p in serves],
                            "workers": [memory_mb(w.pid) for w in stack.workers]},
            "redis_used_memory_peak_mb": await peak_memory_mb(nodes),
            "cpu_s": {k: round(after[k] - before[k], 1) for k in after} | {
                "load": round(load_cpu, 1)},
            "cpu_us_per_event": {k: round((after[k] - before[k]) * 1e6 / max(1, total_accepted),
                                          1) for k in after},
            "redis_commands": redis_time,
        } | ({"profile": profile} if profile else {})
    finally:
        stack.stop()


async def naive(pg: PostgresServer, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    env = dict(os.environ, DATABASE_URL=pg.url, WAYMARK_API_KEYS=f"bench:{KEY}:ingest")
    p = subprocess.Popen([sys.executable, "-m", "benchmarks.naive", "--port", str(port)], env=env)
    try:
        await wait_http(f"http://127.0.0.1:{port}")
        load, _ = await asyncio.to_thread(run_load, f"http://127.0.0.1:{port}", args)
        return load
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)


def table(r: dict[str, Any]) -> str:
    e = r["waymark"]
    rows = [
        ("workload", r["workload"]),
        ("accepted events/s (after warm-up)", e["ingest"]["accepted_per_s"]),
        ("ingest latency p50 / p95 / p99 ms", " / ".join(str(v) for v in
                                                          e["ingest"]["latency_ms"].values())),
        ("applied to PostgreSQL, events/s", e["applied_events_per_s"]),
        ("merge ratio (events per row written)", e["merge_ratio"]),
        ("freshness p50 / p99 s", f"{e['freshness']['p50_s']} / {e['freshness']['p99_s']}"),
        ("event lag p50 / p99 (bucket bound) s",
         f"{e['event_lag']['p50_le_s']} / {e['event_lag']['p99_le_s']}"),
        ("merge ceiling events/s", r["merge_ceiling"]["events_per_s"]),
        ("apply ceiling rows/s", r["apply_ceiling"]["rows_per_s"]),
        ("naive events/s", r["naive"]["accepted_per_s"]),
        ("Waymark ÷ naive", r["ratios"]["waymark_over_naive"]),
        ("ingest ÷ merge ceiling", r["ratios"]["ingest_over_merge_ceiling"]),
        ("workers ÷ apply ceiling (rows)", r["ratios"]["workers_over_apply_ceiling"]),
        ("peak RSS MB serve / workers", f"{e['peak_rss_mb']['serve']} / "
                                        f"{e['peak_rss_mb']['workers']}"),
        ("Redis peak memory MB", e["redis_used_memory_peak_mb"]),
        ("CPU s by process group", e["cpu_s"]),
    ]
    return "| figure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with fresh_servers("waymark-run-") as (redis, pg):
        result: dict[str, Any] = {"workload": args.workload, "workers": args.workers,
                                  "ingest_processes": args.ingest,
                                  "redis_masters": args.redis_masters}
        with cluster_of(args.redis_masters) as cluster:
            result["waymark"] = await waymark_e2e(redis, pg, args, cluster)
        if args.only_waymark:
            return result
        result["merge_ceiling"] = await merge_ceiling(redis.url, args.workload, args.seconds)
        result["apply_ceiling"] = await apply_ceiling(pg.url, args.workload, args.seconds)
        result["naive"] = await naive(pg, args)
        e = result["waymark"]
        result["ratios"] = {
            "waymark_over_naive": round(e["applied_events_per_s"]
                                        / max(1, result["naive"]["accepted_per_s"]), 1),
            "ingest_over_merge_ceiling": round(e["ingest"]["accepted_per_s"]
                                               / max(1, result["merge_ceiling"]["events_per_s"]),
                                               2),
            "workers_over_apply_ceiling": round(
                e["rows_written"] / (e["drain_s"] if args.phased else e["drained_after_s"])
                / max(1, result["apply_ceiling"]["rows_per_s"]), 2),
        }
        return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", choices=["heartbeat", "burst"], default="heartbeat")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ingest", type=int, default=1, help="HTTP server processes (SO_REUSEPORT)")
    ap.add_argument("--redis-masters", type=int, default=1,
                    help="more than 1: the buffer on a Redis Cluster of that many masters")
    ap.add_argument("--only-waymark", action="store_true",
                    help="skip the ceilings and the naive baseline (scaling runs)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--phased", action="store_true",
                    help="workers paused during the load, then drain the backlog alone: the "
                    "ingest and the workers each measured without the other")
    ap.add_argument("--warmup", type=float, default=2, help="seconds of load not measured")
    ap.add_argument("--probes", type=int, default=20, help="freshness probes")
    ap.add_argument("--json", type=Path, help="also write the JSON report here")
    ap.add_argument("--profile", type=Path, metavar="DIR",
                    help="sample serve and workers with py-spy during the load into DIR")
    a = ap.parse_args()
    report = asyncio.run(main(a))
    if a.json:
        a.json.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    if "ratios" in report:
        print(table(report))
