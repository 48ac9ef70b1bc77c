"""What the chapter event log costs on disk, per million events, through the real apply step.

Feeds ``aggregator.apply.apply_batch`` drained batches of 1000 chapter keys, each key carrying
``--per-key`` events (1: every heartbeat flushed on its own, the worst case; 10: a merge window
of heartbeats), then reads the size of ``chapter_event_log`` (heap, TOAST and index) and of
``chapter_progress`` for comparison.

    .venv/bin/python -m benchmarks.event_log_storage --events 200000 --per-key 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

import asyncpg
import msgspec

from aggregator.apply import apply_batch
from benchmarks.run import fresh_servers
from buffer.entries import ChapterHeader, DrainedChapter
from buffer.fold import PROGRESS, Base, TailEvent
from buffer.keys import keyid
from buffer.merge_buffer import DrainedBatch

_pack = msgspec.msgpack.Encoder()
KEYS_PER_BATCH = 1000
_SIZE = """
SELECT coalesce(pg_total_relation_size(to_regclass('chapter_event_log')), 0) AS log,
       pg_total_relation_size('chapter_progress') AS chapters
"""


def _batch(round_: int, keys: int, per_key: int, now: int) -> DrainedBatch:
    entries = []
    for k in range(keys):
        # event ids as SDKs make them (a UUID's 36 characters)
        evs = [TailEvent(now - 60_000 + round_ * 1000 + i, str(uuid.uuid4()), PROGRESS,
                         float((round_ + i) % 100), 10_000, float(round_ * 10 + i))
               for i in range(per_key)]
        header = ChapterHeader(Base(), now, evs[-1].ts, evs[-1].id, per_key)
        entries.append((keyid(f"u{k // 8}", "c-1", f"ch-{k % 8}"),
                        _pack.encode(DrainedChapter(header, evs))))
    return DrainedBatch(0, f"bench-{uuid.uuid4().hex}", entries)


async def measure(database_url: str, events: int, per_key: int) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url)
    now = int(time.time() * 1000)
    rounds = max(1, events // (KEYS_PER_BATCH * per_key))
    start = time.perf_counter()
    for r in range(rounds):
        await apply_batch(conn, _batch(r, KEYS_PER_BATCH, per_key, now))
    seconds = time.perf_counter() - start
    await conn.execute("VACUUM ANALYZE")
    size = await conn.fetchrow(_SIZE)
    await conn.close()
    applied = rounds * KEYS_PER_BATCH * per_key
    return {
        "events": applied, "events_per_key_and_batch": per_key,
        "log_mb_per_million_events": round(size["log"] / applied * 1e6 / 2**20, 1),
        "log_bytes_per_event": round(size["log"] / applied, 1),
        "chapter_progress_mb": round(size["chapters"] / 2**20, 1),
        "apply_events_per_s": round(applied / seconds),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with fresh_servers("waymark-log-") as (_, pg):
        return await measure(pg.url, args.events, args.per_key)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--per-key", type=int, default=1)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
