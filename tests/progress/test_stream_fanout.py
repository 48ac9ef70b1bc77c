"""One stream reader per server process, fanning out to the learners connected there."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.fanout import StreamFanout, TooSlow
from tests.helpers import auth, event
from tests.integration.test_pipeline import post, put_catalog
from tests.pipeline import Pipeline
from tests.progress.test_stream import _next_event

STREAM = "waymark:events"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    async with Redis.from_url(redis_url) as r:
        yield r


async def add(redis: Redis, user: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        raw = await redis.xadd(STREAM, {"user_id": user, "type": "t", "data": f'{{"i": {i}}}'})
        ids.append(raw.decode())
    return ids


async def blocked_reads(redis: Redis) -> int:
    return sum(1 for c in await redis.client_list() if c["cmd"] == "xread")


async def collect(fanout: StreamFanout, user: bytes, after: str | None, n: int) -> list[str]:
    got: list[str] = []
    async with asyncio.timeout(10):
        async for entry in fanout.entries(user, after, keepalive_s=5):
            if entry is not None:
                got.append(entry[0])
            if len(got) == n:
                return got
    raise AssertionError("the stream ended")


async def test_many_connections_share_one_blocking_read_of_redis(
    client: TestClient, pipeline: Pipeline, redis: Redis,
) -> None:
    await put_catalog(client)
    before = await blocked_reads(redis)  # another test's app may still be closing
    users = [f"u-{i}" for i in range(20)]
    streams = []
    for user in users * 2:  # two tabs per learner
        resp = await client.get(f"/v1/users/{user}/stream", headers=auth())
        await resp.content.readline()  # connected
        streams.append((user, resp))
    await post(client, [event("chapter_completed", user_id=u, chapter_id="ch-1") for u in users])
    await pipeline.flush()
    for user, resp in streams:
        first = await _next_event(resp)
        assert first["event"] == "chapter.completed" and first["data"]["user_id"] == user
    assert await blocked_reads(redis) - before <= 1  # not one per stream
    for _, resp in streams:
        resp.close()


async def test_a_resumed_connection_gets_every_missed_and_live_entry_once_in_order(
    redis: Redis,
) -> None:
    before = await add(redis, "u-1", 3)
    fanout = StreamFanout(redis, STREAM)
    reader = asyncio.create_task(fanout.run())
    await asyncio.sleep(0.05)
    missed = await add(redis, "u-1", 1200) + await add(redis, "u-2", 5)  # past a page
    listen = asyncio.create_task(collect(fanout, b"u-1", before[-1], 1200 + 300))
    live = await add(redis, "u-1", 300)  # while the connection catches up
    try:
        assert await listen == missed[:1200] + live
    finally:
        reader.cancel()


async def test_a_connection_that_falls_behind_is_ended_and_can_resume(redis: Redis) -> None:
    fanout = StreamFanout(redis, STREAM, queue_limit=5)
    reader = asyncio.create_task(fanout.run())
    await asyncio.sleep(0.05)
    stream = fanout.entries(b"u-1", None, keepalive_s=5)
    first_task = asyncio.create_task(anext(stream))
    await asyncio.sleep(0.05)  # subscribed
    ids = await add(redis, "u-1", 20)
    try:
        first = await first_task
        assert first is not None and first[0] == ids[0]
        await asyncio.sleep(0.3)  # 19 more arrive while nobody reads: more than 5 wait
        with pytest.raises(TooSlow):
            while await anext(stream):
                pass
        assert await collect(fanout, b"u-1", ids[0], 19) == ids[1:]
    finally:
        reader.cancel()
