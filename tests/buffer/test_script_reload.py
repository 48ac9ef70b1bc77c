"""The ingest's write runs the merge script by its hash, once for all shards, and loads it again
when Redis lost it (a restart or a ``SCRIPT FLUSH``), storing every event once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from buffer.fold import PROGRESS, TailEvent
from buffer.keys import keyid
from buffer.merge_buffer import MergeBuffer, ShardWrite

SHARDS = 4


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    async with Redis.from_url(redis_url) as r:
        await r.flushdb()
        await r.script_flush()
        await r.config_resetstat()
        yield r


def request(tag: str, users: list[str]) -> dict[int, ShardWrite]:
    writes: dict[int, ShardWrite] = {}
    for i, user in enumerate(users):
        w = writes.setdefault(hash(user) % SHARDS, ShardWrite())
        eid = f"{tag}-{i}"
        n = w.add_event(i, eid, None, None, user, 1_000)
        w.chapter_op(n, keyid(user, "c", "ch"), False, TailEvent(1_000, eid, PROGRESS, 5.0, 0, -1))
    return writes


async def test_a_lost_script_is_loaded_again_and_no_write_asks_whether_it_exists(
    redis: Redis,
) -> None:
    buffer = MergeBuffer(redis, shards=SHARDS, merge_window_ms=2000, dedup_window_s=3600,
                         lease_s=30)
    users = [f"u{i}" for i in range(12)]
    assert len(request("a", users)) > 1  # the request spans shards
    for tag in ("a", "b"):
        first = await buffer.write(request(tag, users))
        assert "".join(w.flags for w in first.values()) == "1" * len(users)
        again = await buffer.write(request(tag, users))
        assert "".join(w.flags for w in again.values()) == "0" * len(users)
        await redis.script_flush()  # as after a restart without persistence of scripts
    pending = sum(w.pending for w in (await buffer.write(request("c", users[:1]))).values())
    assert pending == await redis.zcard(buffer.key(next(iter(request("c", users[:1]))), "due"))
    stats = await redis.info("commandstats")
    assert "cmdstat_script|exists" not in stats and "cmdstat_script" not in stats
    assert stats["cmdstat_script|load"]["calls"] == 3  # once after each loss
    assert stats["cmdstat_evalsha"]["calls"] >= 5


async def test_a_request_over_several_shards_is_one_script_call(redis: Redis) -> None:
    buffer = MergeBuffer(redis, shards=SHARDS, merge_window_ms=2000, dedup_window_s=3600,
                         lease_s=30)
    users = [f"u{i}" for i in range(12)]
    await buffer.write(request("a", users[:1]))  # the script loaded
    await redis.config_resetstat()
    writes = request("b", users)
    written = await buffer.write(writes)
    assert len(written) == len(writes) > 1
    assert all(w.flags == "1" * len(writes[s].indexes) for s, w in written.items())
    for shard, w in written.items():
        assert w.pending == await redis.zcard(buffer.key(shard, "due"))
    stats = await redis.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 1
    assert "cmdstat_multi" not in stats


async def test_a_redis_out_of_memory_refuses_a_request_over_several_shards_whole(
    redis: Redis,
) -> None:
    """Redis refuses a script's first write when it is over ``maxmemory``, so the one merge call
    of a request stores nothing in any shard, and the error reaches the caller (a 503)."""
    buffer = MergeBuffer(redis, shards=SHARDS, merge_window_ms=2000, dedup_window_s=3600,
                         lease_s=30)
    users = [f"u{i}" for i in range(12)]
    await buffer.write(request("a", users[:1]))  # the script loaded
    await redis.flushdb()
    policy = await redis.config_get("maxmemory-policy")
    await redis.config_set("maxmemory-policy", "noeviction")
    await redis.config_set("maxmemory", 1)
    try:
        with pytest.raises(ResponseError, match="maxmemory"):
            await buffer.write(request("b", users))
    finally:
        await redis.config_set("maxmemory", 0)
        await redis.config_set("maxmemory-policy", policy["maxmemory-policy"])
    assert await redis.dbsize() == 0
    retried = await buffer.write(request("b", users))  # the retry stores every event, once
    assert "".join(w.flags for w in retried.values()) == "1" * len(users)
