"""Memory cost of the two dedup mechanisms, measured on a real Redis.

    .venv/bin/python -m benchmarks.dedup_memory --redis-url redis://127.0.0.1:6379/15

Event-id dedup: ids in per-shard bucket sets (what ``merge.lua`` does). Source/seq dedup: per
source and shard, one string with the highest seq and a 1024-bit ring (128 bytes). Compared with
the obvious alternative, one ``SET id 1 NX EX`` key per event id. The database given is flushed.
"""

from __future__ import annotations

import argparse
import json
import uuid

import redis


def used(r: redis.Redis) -> int:
    return int(r.info("memory")["used_memory"])


def measure(url: str, n_ids: int, n_sources: int) -> dict[str, float]:
    r = redis.Redis.from_url(url)
    r.flushdb()
    ids = [str(uuid.uuid4()) for _ in range(n_ids)]  # 36 chars, like a UUIDv7 string
    out: dict[str, float] = {}

    base = used(r)
    for shard in range(16):
        chunk = ids[shard::16]
        for i in range(0, len(chunk), 1000):
            r.sadd(f"wm:{{wm.{shard}}}:ids:0", *chunk[i:i + 1000])
    out["bucket_sets_bytes_per_id"] = (used(r) - base) / n_ids
    r.flushdb()

    base = used(r)
    pipe = r.pipeline(transaction=False)
    for i, eid in enumerate(ids):
        pipe.set(f"wm:{{wm.{i % 16}}}:id:{eid}", 1, nx=True, ex=3600)
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    out["set_nx_ex_bytes_per_id"] = (used(r) - base) / n_ids
    r.flushdb()

    base = used(r)
    pipe = r.pipeline(transaction=False)
    for s in range(n_sources):
        src = str(uuid.uuid4())
        pipe.set(f"wm:{{wm.{s % 16}}}:sm:{src}", 123456, ex=91 * 86400)
        pipe.setbit(f"wm:{{wm.{s % 16}}}:sr:{src}", 1023, 1)
        pipe.expire(f"wm:{{wm.{s % 16}}}:sr:{src}", 91 * 86400)
        if s % 1000 == 999:
            pipe.execute()
    pipe.execute()
    out["source_bytes_per_source_and_shard"] = (used(r) - base) / n_sources
    r.flushdb()
    out["million_ids_mib"] = out["bucket_sets_bytes_per_id"] * 1e6 / 2**20
    out["million_ids_set_nx_mib"] = out["set_nx_ex_bytes_per_id"] * 1e6 / 2**20
    return {k: round(v, 1) for k, v in out.items()}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--redis-url", required=True)
    ap.add_argument("--ids", type=int, default=1_000_000)
    ap.add_argument("--sources", type=int, default=100_000)
    a = ap.parse_args()
    print(json.dumps(measure(a.redis_url, a.ids, a.sources), indent=2))
