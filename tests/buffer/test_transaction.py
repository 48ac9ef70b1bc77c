"""The ingest's merge call, packed by hiredis and sent on a pooled connection: the script's
reply, a script Redis lost is loaded and run once, and an error reply raises with the
connection left in step."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from buffer.cluster import run_packed


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    async with Redis.from_url(redis_url, max_connections=1) as r:  # every call on one connection
        await r.flushdb()
        yield r


async def test_the_reply_is_the_scripts_with_keys_and_arguments_in_order(redis: Redis) -> None:
    script = redis.register_script("return {KEYS[1], KEYS[2], ARGV[1], ARGV[2]}")
    assert await run_packed(redis, script, ["k1", "k2"], [7, b"\x93\x01"]) == [
        b"k1", b"k2", b"7", b"\x93\x01"]


async def test_a_script_redis_lost_is_loaded_and_run_once(redis: Redis) -> None:
    script = redis.register_script("return redis.call('INCR', KEYS[1])")
    assert await run_packed(redis, script, ["n"], []) == 1
    await redis.script_flush()
    assert await run_packed(redis, script, ["n"], []) == 2
    assert await redis.get("n") == b"2"


async def test_an_error_reply_raises_and_the_connection_stays_in_step(redis: Redis) -> None:
    text = "redis.call('INCR', KEYS[1]) return redis.error_reply('ERR refused')"
    script = redis.register_script(text)
    await redis.script_load(text)
    with pytest.raises(ResponseError, match="refused"):
        await run_packed(redis, script, ["n"], [])
    assert await redis.ping() is True  # the pool's one connection answers in step
    assert await redis.get("n") == b"1"  # run once, and its write before the error stays
