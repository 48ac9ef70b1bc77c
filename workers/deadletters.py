"""Operator commands for dead letters: list, show, requeue (``waymark dead-letters``)."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

import msgspec
from redis.asyncio import Redis

from buffer.merge_buffer import MergeBuffer
from waymark.settings import Settings


def _buffer(settings: Settings) -> MergeBuffer:
    assert settings.redis_url is not None
    return MergeBuffer(
        Redis.from_url(settings.redis_url),
        shards=settings.shards,
        merge_window_ms=settings.merge_window_ms,
        dedup_window_s=settings.dedup_window_s,
        lease_s=settings.lease_s,
    )


async def run(
    settings: Settings, action: str, dead_id: str | None, out: TextIO = sys.stdout
) -> int:
    """Carry out ``action`` (list | show | requeue); return an exit code."""
    buffer = _buffer(settings)
    try:
        letters = await buffer.dead_letters()
        chosen = [d for d in letters if dead_id in (None, "all", d[1])]
        if action == "list":
            for shard, did, meta in letters:
                out.write(f"{did}\tshard={shard}\ttries={meta['tries']}\tkeys={len(meta['keys'])}"
                          f"\t{meta['error']}\n")
            return 0
        if not chosen:
            out.write(f"no dead letter {dead_id!r}\n")
            return 1
        if action == "show":
            for shard, did, meta in chosen:
                entries = await _entries(buffer, shard, did, meta["keys"])
                out.write(json.dumps({"id": did, "shard": shard, **meta, "entries": entries},
                                     default=str, indent=2) + "\n")
            return 0
        for shard, did, _ in chosen:
            n = await buffer.requeue(shard, did)
            out.write(f"requeued {did}: {n} key(s), applied by the next flush of shard {shard}\n")
        return 0
    finally:
        await buffer.redis.aclose()


async def _entries(buffer: MergeBuffer, shard: int, did: str, keys: list[str]) -> dict[str, Any]:
    async with buffer.redis.pipeline(transaction=False) as pipe:
        pipe.hmget(buffer.key(shard, "dead"), [f"{did}|{k}" for k in keys])
        (raw,) = await pipe.execute()
    return {k: msgspec.msgpack.decode(v) for k, v in zip(keys, raw, strict=True) if v}
