"""Load client, run as its own process: offers batches to ``/v1/events`` and reports JSON.

    .venv/bin/python -m benchmarks.load --url http://127.0.0.1:8080 --key K --workload heartbeat
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import aiohttp
import msgspec

from benchmarks.workloads import WORKLOADS, batches

_encode = msgspec.json.Encoder().encode
_JSON = {"Content-Type": "application/json"}


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else 0.0


async def offer(url: str, key: str, workload: str, seconds: float, clients: int,
                warmup_s: float, rate: float = 0) -> dict[str, Any]:
    """Offer batches from ``clients`` concurrent clients, as fast as answered or, with ``rate``,
    at that many events/s in total (each client on its own schedule, catching up if late)."""
    w = WORKLOADS[workload]
    latencies: list[float] = []
    counts = {"accepted": 0, "duplicates": 0, "requests": 0, "refused": 0, "accepted_total": 0}
    statuses: dict[int, int] = {}
    interval = w.batch * clients / rate if rate else 0.0
    start = time.monotonic()
    measure_from = start + warmup_s
    stop = measure_from + seconds

    async def client(i: int, session: aiohttp.ClientSession) -> None:
        due = start + interval * i / clients
        for body in batches(w, i, clients):
            if interval:
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                due += interval
            if time.monotonic() >= stop:
                return
            t0 = time.monotonic()
            async with session.post(f"{url}/v1/events", data=_encode({"events": body}),
                                    headers=_JSON) as r:
                res = await r.json()
            t1 = time.monotonic()
            statuses[r.status] = statuses.get(r.status, 0) + 1
            if r.status == 202:
                counts["accepted_total"] += res["accepted"]
            if t0 < measure_from:
                continue
            latencies.append(t1 - t0)
            counts["requests"] += 1
            if r.status == 202:
                counts["accepted"] += res["accepted"]
                counts["duplicates"] += res["duplicates"]
            else:
                counts["refused"] += 1
                await asyncio.sleep(float(r.headers.get("Retry-After", "0.1")))

    conn = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"},
                                     connector=conn) as session:
        await asyncio.gather(*(client(i, session) for i in range(clients)))
    return {
        **counts,
        "statuses": statuses,
        "seconds": seconds,
        "offered_per_s": rate or None,
        "accepted_per_s": round(counts["accepted"] / seconds),
        "latency_ms": {q: round(percentile(latencies, p) * 1000, 1)
                       for q, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))},
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--workload", choices=sorted(WORKLOADS), default="heartbeat")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rate", type=float, default=0, help="events/s offered (0: closed loop)")
    a = ap.parse_args()
    print(json.dumps(asyncio.run(offer(a.url, a.key, a.workload, a.seconds, a.clients,
                                       a.warmup, a.rate))))
