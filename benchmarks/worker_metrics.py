"""What the workers report on their metrics ports during a run: event lag and batch sizes."""

from __future__ import annotations

import aiohttp


async def lag_buckets(ports: list[int]) -> dict[float, float]:
    """Cumulative buckets of waymark_event_lag_seconds summed over the workers on ``ports``."""
    buckets: dict[float, float] = {}
    async with aiohttp.ClientSession() as s:
        for port in ports:
            async with s.get(f"http://127.0.0.1:{port}/metrics") as r:
                for line in (await r.text()).splitlines():
                    if line.startswith("waymark_event_lag_seconds_bucket"):
                        le = line.split('le="')[1].split('"')[0]
                        bound = float("inf") if le == "+Inf" else float(le)
                        buckets[bound] = buckets.get(bound, 0) + float(line.rsplit(" ", 1)[1])
    return buckets


def lag_quantiles(buckets: dict[float, float]) -> dict[str, float]:
    """p50/p99 as the upper bound of the bucket that holds them."""
    total = buckets.get(float("inf"), 0)
    out = {}
    for name, q in (("p50_le_s", 0.5), ("p99_le_s", 0.99)):
        out[name] = next((b for b in sorted(buckets) if total and buckets[b] >= q * total), 0.0)
    return out


async def keys_per_batch(ports: list[int]) -> float:
    """Mean keys per applied batch over the workers on ``ports`` (waymark_flush_batch_keys)."""
    total = count = 0.0
    async with aiohttp.ClientSession() as s:
        for port in ports:
            async with s.get(f"http://127.0.0.1:{port}/metrics") as r:
                for line in (await r.text()).splitlines():
                    if line.startswith("waymark_flush_batch_keys_sum"):
                        total += float(line.rsplit(" ", 1)[1])
                    elif line.startswith("waymark_flush_batch_keys_count"):
                        count += float(line.rsplit(" ", 1)[1])
    return round(total / count, 1) if count else 0.0


async def scrape_lag(ports: list[int]) -> dict[str, float]:
    """p50/p99 of waymark_event_lag_seconds over all workers (upper bucket bounds)."""
    return lag_quantiles(await lag_buckets(ports))
