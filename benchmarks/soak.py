"""Soak: one offered rate held for minutes; is everything flat in the second half?

    .venv/bin/python -m benchmarks.soak --workload heartbeat --rate 7000 --minutes 10

Starts Redis (AOF everysec), PostgreSQL, ``waymark serve`` and the workers like
``benchmarks.run``, offers ``--rate`` events/s from a separate load process, and samples every
``--every`` seconds: accepted events/s (from the server's counter), pending keys and the age of
the oldest, event lag p99 of the interval (its histogram bucket, and interpolated inside it),
the RSS of every process, and PostgreSQL's own account of the interval: the statements that
took the most time (calls, ms per call), and per written table the updates, the share of them
HOT, dead tuples, autovacuum runs and size (``benchmarks.soak_plot`` draws them). Reports the
time series and, over the second half of the samples taken under load, the accepted rate
against the offered one, the trend of queue depth, oldest pending age and interpolated lag p99
(``flat`` when each moves by less than 10 % of its mean), and each process's RSS growth; plus
every non-202 answer the load client got.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from redis.asyncio import Redis

from benchmarks.pgstats import (
    WRITTEN,
    statement_interval,
    statement_stats,
    table_interval,
    table_stats,
)
from benchmarks.run import (
    KEY,
    WaymarkProcesses,
    fresh_servers,
    freshness,
    memory_mb,
    server_pids,
    wait_http,
)
from benchmarks.worker_metrics import lag_buckets, lag_quantiles
from devstack.servers import PostgresServer, RedisServer


def rss_mb(pid: int) -> float:
    return memory_mb(pid, "VmRSS")


async def server_metrics(url: str) -> dict[str, float]:
    wanted = ("waymark_ingest_events_total{result=\"accepted\"}", "waymark_queue_pending_keys ",
              "waymark_queue_oldest_pending_seconds ")
    out: dict[str, float] = {}
    async with aiohttp.ClientSession() as s, s.get(f"{url}/metrics") as r:
        for line in (await r.text()).splitlines():
            for name in wanted:
                if line.startswith(name):
                    out[name.split("{")[0].strip()] = float(line.rsplit(" ", 1)[1])
    return out


def interval_lag(before: dict[float, float], after: dict[float, float]) -> float:
    """Event lag p99 of the interval as the upper bound of its histogram bucket."""
    return float(lag_quantiles(interval(before, after))["p99_le_s"])


def interval(before: dict[float, float], after: dict[float, float]) -> dict[float, float]:
    return {b: after[b] - before.get(b, 0) for b in after}


def interpolated_quantile(buckets: dict[float, float], q: float) -> float:
    """The ``q`` quantile of cumulative histogram buckets, interpolated linearly inside the
    bucket that holds it (as Prometheus's ``histogram_quantile``); the highest finite bound when
    it falls in ``+Inf``, 0 for an empty histogram."""
    total = buckets.get(float("inf"), 0.0)
    if total <= 0:
        return 0.0
    rank, lower, below = q * total, 0.0, 0.0
    for bound in sorted(buckets):
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, count
    return lower


FLAT_PERCENT = 10.0
"""A figure whose trend moves it by less than this share of its mean over the half is flat."""
TRENDED = ("pending_keys", "oldest_pending_s", "lag_p99_s")
"""Judged by trend; lag by its interpolated p99, not by the bucket bound (which takes only a
few values, so a trend through it says where the steps fell rather than how lag moved)."""


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ``ys`` over ``xs`` (0 for fewer than two points)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return 0.0 if var == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var


def drift(half: list[dict[str, Any]], name: str) -> dict[str, float]:
    """How far the trend of ``name`` moves it across ``half``: absolute, and % of its mean."""
    xs = [float(s["t_s"]) for s in half]
    ys = [float(s[name]) for s in half]
    change = slope(xs, ys) * (xs[-1] - xs[0]) if len(xs) > 1 else 0.0
    mean = sum(ys) / len(ys) if ys else 0.0
    return {"change": round(change, 2),
            "percent": round(100 * change / mean, 1) if mean else 0.0}


def second_half(samples: list[dict[str, Any]], rate: float) -> dict[str, Any]:
    """The verdict over the second half of the samples taken *under load*.

    A sample taken after the load stopped (the buffer drained, pending 0) would make any rise
    look flat, so only samples marked ``under_load`` count; each figure is judged by the trend
    of all of them (a least-squares line), not by its first and last values.
    """
    under = [s for s in samples if s.get("under_load", True)]
    half = under[len(under) // 2:]
    first, last = half[0], half[-1]
    seconds = last["t_s"] - first["t_s"]
    accepted = (last["accepted"] - first["accepted"]) / max(1e-9, seconds)
    drifts = {name: drift(half, name) for name in TRENDED}
    drifting = [f"{name} {d['percent']:+.1f} %" for name, d in drifts.items()
                if abs(d["percent"]) >= FLAT_PERCENT]
    return {
        "samples_under_load": len(half),
        "accepted_per_s": round(accepted),
        "accepted_over_offered": round(accepted / rate, 4),
        "drift": drifts,
        "verdict": "flat" if not drifting else "drifting: " + ", ".join(drifting),
        "lag_p99_s_max": max(s["lag_p99_le_s"] for s in half),
        "rss_growth_mb": {name: round(last["rss_mb"][name] - first["rss_mb"][name], 1)
                          for name in last["rss_mb"]},
        "redis_used_memory_growth_mb": round(last["redis_used_mb"] - first["redis_used_mb"], 1),
    }


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    async with fresh_servers("waymark-soak-", statements=True) as (redis, pg):
        return await _soak(redis, pg, args)


class PostgresWatch:
    """PostgreSQL's cumulative statistics read at each sample, reported per interval."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.tables: dict[str, dict[str, int]] = {}
        self.statements: dict[int, dict[str, Any]] = {}

    async def interval(self) -> dict[str, Any]:
        tables, statements = await table_stats(self.conn), await statement_stats(self.conn)
        out = {"tables": table_interval(self.tables, tables, WRITTEN),
               "statements": statement_interval(self.statements, statements, top=15)}
        self.tables, self.statements = tables, statements
        return out


async def _soak(redis: RedisServer, pg: PostgresServer, args: argparse.Namespace) -> dict[str, Any]:
    stack = None
    try:
        stack = WaymarkProcesses(redis, pg, args.workers, 1)
        await wait_http(stack.url)
        seconds = args.minutes * 60
        load = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.load", "--url", stack.url, "--key", KEY,
             "--workload", args.workload, "--seconds", str(seconds), "--warmup", "0",
             "--clients", str(args.clients), "--rate", str(args.rate)],
            stdout=subprocess.PIPE)
        procs = {"serve": stack.serves[0].pid,
                 **{f"worker-{i}": w.pid for i, w in enumerate(stack.workers)},
                 "redis": server_pids(redis, pg)["redis"][0]}
        samples: list[dict[str, Any]] = []
        redis_client = Redis.from_url(redis.url)
        watch = PostgresWatch(await asyncpg.connect(pg.url))
        await watch.interval()
        t0 = time.monotonic()
        lag_before = await lag_buckets(stack.worker_ports)
        probes = None
        if args.probes:  # freshness under the load, from the middle of the run on
            async def probe_later() -> dict[str, float]:
                await asyncio.sleep(seconds / 2)
                return await freshness(stack.url, args.probes)
            probes = asyncio.create_task(probe_later())
        while load.poll() is None:
            await asyncio.sleep(args.every)
            m = await server_metrics(stack.url)
            lag_now = await lag_buckets(stack.worker_ports)
            pg_rss = sum(rss_mb(p) for p in server_pids(redis, pg)["postgres"])
            samples.append({
                "t_s": round(time.monotonic() - t0, 1),
                "under_load": load.poll() is None,
                "accepted": m.get("waymark_ingest_events_total", 0.0),
                "pending_keys": m.get("waymark_queue_pending_keys", 0.0),
                "oldest_pending_s": round(m.get("waymark_queue_oldest_pending_seconds", 0.0), 2),
                "lag_p99_le_s": interval_lag(lag_before, lag_now),
                "lag_p99_s": round(interpolated_quantile(interval(lag_before, lag_now), 0.99), 2),
                "rss_mb": {name: rss_mb(pid) for name, pid in procs.items()}
                | {"postgres (all)": round(pg_rss, 1)},
                "redis_used_mb": round(
                    int((await redis_client.info("memory"))["used_memory"]) / 2**20, 1),
                "postgres": await watch.interval(),
            })
            lag_before = lag_now
            print(json.dumps({k: v for k, v in samples[-1].items() if k != "postgres"}),
                  file=sys.stderr, flush=True)
        await redis_client.aclose()
        await watch.conn.close()
        out, _ = load.communicate()
        report = json.loads(out)
        for i in range(1, len(samples)):
            dt = samples[i]["t_s"] - samples[i - 1]["t_s"]
            samples[i]["accepted_per_s"] = round(
                (samples[i]["accepted"] - samples[i - 1]["accepted"]) / dt)
        return {"workload": args.workload, "offered_per_s": args.rate, "minutes": args.minutes,
                "workers": args.workers, "load": report,
                "freshness_under_load": await probes if probes else None,
                "second_half": second_half(samples, args.rate), "samples": samples}
    finally:
        if stack is not None:
            stack.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", choices=["heartbeat", "burst"], default="heartbeat")
    ap.add_argument("--rate", type=float, required=True, help="events/s offered")
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--every", type=float, default=10, help="seconds between samples")
    ap.add_argument("--probes", type=int, default=0,
                    help="freshness probes (202 → read API) during the second half")
    ap.add_argument("--json", type=Path, help="also write the report here")
    a = ap.parse_args()
    result = asyncio.run(soak(a))
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))
