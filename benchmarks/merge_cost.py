"""The merge's CPU per event, Redis's and the client's, without HTTP or workers.

    .venv/bin/python -m benchmarks.merge_cost [--requests 2000] [--events 50] [--learners 50000]
        [--chapters 8] [--shards 16]

Heartbeat-shaped requests (``--events`` progress events for consecutive chapters of learners
``u0…``, ``--chapters`` each, one SDK source, so a request spans several shards) go through
``MergeBuffer.write`` one after the other against a fresh Redis (AOF everysec), then every shard
is drained and acknowledged. Reported per event: Redis's CPU (``INFO cpu``) during the writes,
the client's (this process) during the writes, and Redis's during drain + acknowledge. A first
round of a tenth of the requests, not counted, loads the scripts and warms Redis up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from redis.asyncio import Redis

from benchmarks.servers import fresh_servers
from buffer.fold import PROGRESS, TailEvent
from buffer.keys import keyid, shard_of
from buffer.merge_buffer import MergeBuffer, ShardWrite

SOURCE = "merge-cost-source"


def requests(first_seq: int, n: int, events: int, learners: int, chapters: int = 8,
             shards: int = 16) -> list[dict[int, ShardWrite]]:
    now = int(time.time() * 1000)
    out = []
    seq = first_seq
    for _ in range(n):
        writes: dict[int, ShardWrite] = {}
        for i in range(events):
            seq += 1
            user = f"u{(seq // chapters) % learners}"
            w = writes.setdefault(shard_of(user, shards), ShardWrite())
            eid = f"{SOURCE}-{seq}"
            slot = w.add_event(i, eid, SOURCE, seq, user, now)
            w.chapter_op(slot, keyid(user, "c-1", f"ch-{seq % chapters}"), False,
                         TailEvent(now, eid, PROGRESS, float(seq % 100), 10_000,
                                   float(seq % 900)))
        out.append(writes)
    return out


async def redis_cpu_s(redis: Redis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def measure(n: int, events: int, learners: int, chapters: int = 8,
                  shards: int = 16) -> dict[str, Any]:
    async with fresh_servers("waymark-merge-cost-") as (server, _):
        redis = Redis.from_url(server.url)
        buffer = MergeBuffer(redis, shards=shards, merge_window_ms=0, dedup_window_s=3600,
                             lease_s=30, replay_retention_s=900)

        async def round_(first: int, count: int) -> tuple[float, float, float]:
            batch = requests(first, count, events, learners, chapters, shards)
            r0, c0 = await redis_cpu_s(redis), time.process_time()
            for writes in batch:
                await buffer.write(writes)
            c1, r1 = time.process_time(), await redis_cpu_s(redis)
            for shard in range(shards):
                while (drained := await buffer.drain(shard, 1000)) is not None:
                    await buffer.ack(drained)
            return r1 - r0, c1 - c0, await redis_cpu_s(redis) - r1

        await round_(0, max(1, n // 10))
        merge_redis, merge_client, drain_redis = await round_(n * events, n)
        await redis.aclose()
    total = n * events
    sample = requests(0, min(n, 200), events, learners, chapters, shards)
    return {
        "requests": n, "events_per_request": events, "shards": shards,
        "shards_per_request": round(sum(len(w) for w in sample) / len(sample), 1),
        "merge_redis_cpu_us_per_event": round(merge_redis / total * 1e6, 2),
        "merge_client_cpu_us_per_event": round(merge_client / total * 1e6, 2),
        "drain_ack_redis_cpu_us_per_event": round(drain_redis / total * 1e6, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--events", type=int, default=50, help="events per request")
    ap.add_argument("--learners", type=int, default=50_000)
    ap.add_argument("--chapters", type=int, default=8, help="chapters per learner")
    ap.add_argument("--shards", type=int, default=16, help="buffer shards (WAYMARK_SHARDS)")
    args = ap.parse_args()
    print(json.dumps(asyncio.run(measure(args.requests, args.events, args.learners,
                                         args.chapters, args.shards))))


if __name__ == "__main__":
    main()
