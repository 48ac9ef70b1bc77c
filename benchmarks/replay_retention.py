"""What keeping applied batches for ``waymark replay`` costs in Redis memory.

    .venv/bin/python -m benchmarks.replay_retention [--events 20000]

Runs one HTTP server and two workers on fresh servers, sends ``--events`` events of two shapes
(``heartbeat``: every event its own chapter row; ``burst``: 20 progress events per chapter
within the merge window) and, once they are applied, reads ``MEMORY USAGE`` of every shard's
replay stream: bytes per event accepted and per key applied, and what a retention of 15 minutes
holds at a given rate. Then the Redis time of the acknowledgement itself (``ack.lua``) for
batches of 1 000 keys of ~150 bytes, with the retention and without, from ``INFO
commandstats`` (Redis's own CPU time, so less at the mercy of a busy machine than wall time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

import aiohttp
from redis.asyncio import Redis

from benchmarks.run import KEY, WaymarkProcesses, wait_http
from benchmarks.servers import fresh_servers


def events(shape: str, n: int) -> list[dict[str, Any]]:
    now = int(time.time() * 1000) - 60_000
    per_row = 1 if shape == "heartbeat" else 20
    return [{"id": str(uuid.uuid4()), "type": "chapter_progress",
             "user_id": f"u{i // per_row % 500}", "course_id": "c1",
             "chapter_id": f"ch{i // per_row}", "ts": now + i,
             "progress": float(i % 100), "position_s": float(i % 600), "time_spent_s": 5}
            for i in range(n)]


async def replay_bytes(url: str) -> tuple[int, int]:
    """Bytes of every replay stream and the keys they hold."""
    async with Redis.from_url(url) as r:
        total = keys = 0
        async for key in r.scan_iter("wm:*:replay"):
            total += int(await r.memory_usage(key, samples=0) or 0)
            for _, fields in await r.xrange(key):
                keys += len(fields) - 1
        return total, keys


async def measure(shape: str, n: int) -> dict[str, float]:
    async with fresh_servers("waymark-replay-") as (redis, pg):
        stack = WaymarkProcesses(redis, pg, workers=2, ingest=1)
        try:
            await wait_http(stack.url)
            batch = events(shape, n)
            auth = {"Authorization": f"Bearer {KEY}"}
            async with aiohttp.ClientSession(headers=auth) as s:
                for i in range(0, n, 500):
                    async with s.post(f"{stack.url}/v1/events",
                                      json={"events": batch[i:i + 500]}) as resp:
                        assert resp.status == 202, await resp.text()
            async with Redis.from_url(redis.url) as r:
                while [k async for k in r.scan_iter("wm:*:due")] or \
                        [k async for k in r.scan_iter("wm:*:inflight")]:
                    await asyncio.sleep(0.2)
            total, keys = await replay_bytes(redis.url)
        finally:
            stack.stop()
    return {"events": n, "keys_applied": keys, "stream_bytes": total,
            "bytes_per_event": round(total / n, 1), "bytes_per_key": round(total / max(1, keys), 1),
            "mib_for_15_min_at_1000_events_per_s": round(total / n * 1000 * 900 / 2**20, 1)}


async def ack_cost(url: str, batches: int = 200, keys: int = 1000) -> dict[str, float]:
    """Redis microseconds per acknowledged key, with and without keeping the batch."""
    from buffer.merge_buffer import DrainedBatch, MergeBuffer

    out = {}
    async with Redis.from_url(url) as r:
        for retention_s in (0, 900):
            buffer = MergeBuffer(r, shards=1, merge_window_ms=0, dedup_window_s=3600, lease_s=30,
                                 replay_retention_s=retention_s)
            await r.flushall()
            await r.config_resetstat()
            for b in range(batches):
                bid = f"0-{b}"
                kids = [f"u{b}|c1|ch{k}" for k in range(keys)]
                fields: dict[str, Any] = {bid: "\n".join(kids)}
                fields.update({f"{bid}|{k}": b"x" * 150 for k in kids})
                await r.hset("wm:{wm.0}:inflight", mapping=fields)
                await buffer.ack(DrainedBatch(0, bid, []))
            stats = await r.info("commandstats")
            usec = sum(int(v["usec"]) for k, v in stats.items() if k.startswith("cmdstat_evalsha"))
            out[f"ack_us_per_key_retention_{retention_s}"] = round(usec / (batches * keys), 3)
    return out


async def main(n: int) -> dict[str, Any]:
    result: dict[str, Any] = {shape: await measure(shape, n) for shape in ("heartbeat", "burst")}
    async with fresh_servers("waymark-replay-ack-") as (redis, _):
        result["ack"] = await ack_cost(redis.url)
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000)
    print(json.dumps(asyncio.run(main(ap.parse_args().events)), indent=2))
