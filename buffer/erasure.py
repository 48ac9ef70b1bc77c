"""A learner's erasure on the buffer's side, and the tombstones the ingest checks.

``lua/erase.lua`` removes, in one atomic step on the learner's shard, every entry of theirs:
pending (``buf``, ``due`` and tails ``t:``), leased (``inflight``) and dead-lettered (``dead``),
and records their tombstone in the shard's ``erased`` zset (user id → ``erased_ms``, the Redis
clock that also stamps when an entry was accepted, so "accepted at or before the erasure" is
measured on one clock).

The zset answers the ingest's question "is this learner erased, and when?" without PostgreSQL.
An entry is kept ``TOMBSTONE_KEEP_MS``: after that, every event it would refuse is older than the
oldest ``ts`` the ingest accepts anyway. PostgreSQL keeps the tombstone for good.

What cannot be tied to a learner stays until it expires: event-id dedup buckets (ids only, one
dedup window) and the per-source seq state (an installation id, a number and a bitmap, no user
id; its TTL).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import TypeAlias, cast

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from buffer.keys import shard_key, shard_of

AnyRedis: TypeAlias = Redis | RedisCluster

TOMBSTONE_KEEP_MS = (90 * 86400 + 300) * 1000
"""The oldest accepted ``ts`` is 90 days back (plus 5 minutes of clock skew)."""


@dataclass(frozen=True, slots=True)
class BufferErased:
    erased_ms: int
    """The tombstone now in place."""
    entries: int
    """Entries removed: pending, leased and dead-lettered."""


class BufferErasure:
    """The erase script of one buffer (same shard count as it)."""

    def __init__(self, redis: AnyRedis, shards: int) -> None:
        self.redis = redis
        self.shards = shards
        script = resources.files("buffer").joinpath("lua", "erase.lua").read_text()
        # A cluster client runs it the same way: every key it names lies in the shard's slot.
        self._erase = cast(Redis, redis).register_script(script)

    def _keys(self, shard: int) -> list[str]:
        names = ("buf", "due", "leases", "inflight", "dead", "deadidx", "erased")
        return [shard_key(shard, n) for n in names]

    async def erase(self, user_id: str, previous_ms: int | None, found: int) -> BufferErased:
        """Remove the learner's entries and set their tombstone.

        The tombstone stays at ``previous_ms`` when there was nothing left to erase (``found``
        rows in PostgreSQL, none in the buffer); otherwise it is the Redis clock's now.
        """
        shard = shard_of(user_id, self.shards)
        prev = -1 if previous_ms is None else previous_ms
        erased_ms, removed = await self._erase(
            keys=self._keys(shard), args=[user_id, prev, found, TOMBSTONE_KEEP_MS]
        )
        return BufferErased(int(erased_ms), int(removed))


async def tombstones(redis: AnyRedis, shards: int, users: Iterable[str]) -> dict[str, int]:
    """``erased_ms`` of each erased learner among ``users`` (one pipelined round trip)."""
    by_shard: dict[int, list[str]] = defaultdict(list)
    for user in set(users):
        by_shard[shard_of(user, shards)].append(user)
    if not by_shard:
        return {}
    order = sorted(by_shard)
    async with redis.pipeline(transaction=False) as pipe:
        for shard in order:
            pipe.zmscore(shard_key(shard, "erased"), by_shard[shard])
        answers = await pipe.execute()
    out = {}
    for shard, scores in zip(order, answers, strict=True):
        for user, score in zip(by_shard[shard], scores, strict=True):
            if score is not None:
                out[user] = int(score)
    return out
