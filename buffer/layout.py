"""The buffer's shard count, recorded in Redis so that every process agrees on it.

A learner's keys live in shard ``crc32(user) % WAYMARK_SHARDS`` (``buffer.keys``). A process
started with another count than the buffer holds would merge a learner's new events into
another shard than the older ones, and keys in shards beyond its count would never be
flushed by its workers. So the first process records the count in ``wm:shards``; every process
checks its own against it when it opens the buffer and refuses to start on a mismatch while
the recorded shards still hold anything (due keys, leased batches, dead letters). With those
shards empty, the count may change: the process records its own.

The check runs when a process starts; it does not stop two processes started at the same
moment with different counts on an empty buffer (change the count with everything stopped).
"""

from __future__ import annotations

from buffer.cluster import RedisClient, register_script
from buffer.keys import shard_key

SHARDS_KEY = "wm:shards"

# Compare-and-set: two processes changing the count at once cannot both win.
_SWAP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


class ShardCountMismatch(Exception):
    """``WAYMARK_SHARDS`` differs from the count of a buffer that still holds keys."""

    def __init__(self, configured: int, recorded: int, held: int) -> None:
        super().__init__(
            f"WAYMARK_SHARDS is {configured}, but the buffer in Redis was written with "
            f"{recorded} shards and still holds {held} keys, leased batches or dead letters. "
            f"Start every process with WAYMARK_SHARDS={recorded}, let the workers drain the "
            f"buffer (and requeue or discard its dead letters), then change it."
        )
        self.configured = configured
        self.recorded = recorded
        self.held = held


async def held(redis: RedisClient, shards: int) -> int:
    """Due keys, leased batches and dead letters in shards ``0 … shards-1`` (one round trip)."""
    async with redis.pipeline(transaction=False) as pipe:
        for shard in range(shards):
            for name in ("due", "leases", "deadidx"):
                pipe.zcard(shard_key(shard, name))
        counts = await pipe.execute()
    return sum(int(n) for n in counts)


async def claim_shard_count(redis: RedisClient, shards: int) -> int | None:
    """Record ``shards`` as the buffer's count, or check it against the recorded one.

    Returns the count it replaced (the recorded shards were empty), or ``None`` when the
    buffer already had this count or had none recorded. Raises :class:`ShardCountMismatch`
    when the recorded shards still hold anything.
    """
    if await redis.set(SHARDS_KEY, shards, nx=True):
        return None
    while True:
        raw = await redis.get(SHARDS_KEY)
        if raw is None:  # deleted meanwhile: record ours
            if await redis.set(SHARDS_KEY, shards, nx=True):
                return None
            continue
        recorded = int(raw)
        if recorded == shards:
            return None
        left = await held(redis, recorded)
        if left:
            raise ShardCountMismatch(shards, recorded, left)
        if await register_script(redis, _SWAP)(keys=[SHARDS_KEY], args=[raw, shards]):
            return recorded
