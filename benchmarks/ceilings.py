"""The two ceilings Waymark is compared with, measured on the same machine in the same run.

- merge ceiling: Waymark's own Redis merge step (validation, prepare, the per-shard Lua scripts)
  driven directly with the workload's batches, no HTTP — what ingest could do at best;
- apply ceiling: Waymark's own PostgreSQL apply step (``aggregator.apply.apply_batch``) fed
  pre-merged batches of 1000 keys directly, no Redis — what the workers could do at best.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from typing import Any

import asyncpg
import msgspec
from redis.asyncio import Redis

from aggregator.apply import apply_batch
from benchmarks.workloads import WORKLOADS, batches
from buffer.entries import ChapterHeader, DrainedChapter
from buffer.fold import PROGRESS, Base, TailEvent
from buffer.keys import keyid
from buffer.merge_buffer import DrainedBatch, MergeBuffer
from ingest.prepare import decode_events, prepare
from waymark_client.wire import RawBatch

_json = msgspec.json.Encoder()
_pack = msgspec.msgpack.Encoder()


async def merge_ceiling(redis_url: str, workload: str, seconds: float,
                        clients: int = 4) -> dict[str, Any]:
    redis = Redis.from_url(redis_url)
    buffer = MergeBuffer(redis, shards=16, merge_window_ms=3_600_000, dedup_window_s=3600,
                         lease_s=30)
    w = WORKLOADS[workload]
    accepted = 0
    stop = time.monotonic() + seconds

    async def client(i: int) -> None:
        nonlocal accepted
        for body in batches(w, i, clients):
            if time.monotonic() >= stop:
                return
            raw = msgspec.json.decode(_json.encode({"events": body}), type=RawBatch)
            events, _ = decode_events("json", raw.events, 32 * 1024)
            prepared = prepare(events, now_ms=int(time.time() * 1000), skew_ms=0, rules={},
                               shard_of=buffer.shard_of)
            written = await buffer.write(prepared.writes)
            accepted += sum(w.flags.count("1") for w in written.values())

    await asyncio.gather(*(client(i) for i in range(clients)))
    await redis.flushall()
    await redis.aclose()
    return {"events_per_s": round(accepted / seconds), "clients": clients}


def _entry(user: int, chapter: int, n: int, now: int) -> tuple[str, bytes]:
    ev = TailEvent(now - 1000, f"e{n}", PROGRESS, float(n % 100), 10_000, float(n % 900))
    header = ChapterHeader(Base(), now - 2000, ev.ts, ev.id, 1)
    return keyid(f"u{user}", "c-1", f"ch-{chapter}"), _pack.encode(DrainedChapter(header, [ev]))


async def apply_ceiling(database_url: str, workload: str, seconds: float,
                        connections: int = 2, batch_keys: int = 1000) -> dict[str, Any]:
    w = WORKLOADS[workload]
    batch_keys = min(batch_keys, w.users * w.chapters // connections)  # disjoint in flight
    keys = itertools.cycle([(u, c) for u in range(w.users) for c in range(w.chapters)])
    counter = itertools.count()
    pool = await asyncpg.create_pool(database_url, min_size=connections, max_size=connections)
    applied = 0
    stop = time.monotonic() + seconds
    lock = asyncio.Lock()

    async def next_batch() -> DrainedBatch:
        async with lock:  # disjoint keys per concurrent batch, as shards give
            now = int(time.time() * 1000)
            entries = [_entry(*next(keys), next(counter), now) for _ in range(batch_keys)]
        return DrainedBatch(0, f"bench-{uuid.uuid4().hex}", entries)

    async def conn_loop() -> None:
        nonlocal applied
        while time.monotonic() < stop:
            batch = await next_batch()
            async with pool.acquire() as conn:
                await apply_batch(conn, batch)
            applied += len(batch.entries)

    await asyncio.gather(*(conn_loop() for _ in range(connections)))
    await pool.close()
    return {"rows_per_s": round(applied / seconds), "connections": connections,
            "batch_keys": batch_keys}
