"""The ingest's merge transaction, packed by hiredis and sent on a pooled connection: replies in
call order, and a failing command raises."""

from __future__ import annotations

from collections.abc import AsyncIterator

import hiredis
import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from buffer.cluster import _transaction, run_pipelined


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    async with Redis.from_url(redis_url, max_connections=1) as r:  # every call on one connection
        await r.flushdb()
        yield r


def packed(*commands: tuple[str, ...]) -> bytes:
    return b"".join(hiredis.pack_command(c) for c in commands)


async def test_replies_come_back_in_call_order(redis: Redis) -> None:
    script = redis.register_script("return {KEYS[1], ARGV[1]}")
    calls = [([f"k{i}"], [i]) for i in range(5)]
    assert await run_pipelined(redis, script, calls) == [[f"k{i}".encode(), b"%d" % i]
                                                         for i in range(5)]


async def test_a_script_that_fails_raises_and_the_others_ran(redis: Redis) -> None:
    script = redis.register_script(
        "if ARGV[1] == 'x' then return redis.error_reply('ERR refused') end "
        "return redis.call('INCR', KEYS[1])")
    await script(keys=["n"], args=["0"])  # loaded
    with pytest.raises(ResponseError, match="refused"):
        await run_pipelined(redis, script, [(["n"], ["1"]), (["n"], ["x"]), (["n"], ["2"])])
    assert await redis.get("n") == b"3"  # a transaction does not roll back: the calls ran
    assert await run_pipelined(redis, script, [(["n"], ["3"])]) == [4]


async def test_a_command_refused_when_queued_raises_and_nothing_runs(redis: Redis) -> None:
    bad = packed(("MULTI",), ("SET", "a", "1"), ("GET",), ("EXEC",))  # GET lacks its key
    with pytest.raises(ResponseError):
        await _transaction(redis, bad, 2)
    assert await redis.ping() is True  # the pool's one connection answers in step
    assert await redis.get("a") is None  # EXEC was refused (EXECABORT): nothing ran
