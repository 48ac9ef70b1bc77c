"""The queue sampler on a real Redis: what it counts, and that it stays cheap."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from monitoring.queue import sample_queue
from tests.helpers import auth, event
from tests.pipeline import Pipeline
from waymark.settings import Settings


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    assert settings.redis_url is not None
    client = Redis.from_url(settings.redis_url)
    yield client
    await client.aclose()


async def post_users(client: TestClient, users: list[str]) -> None:
    events = [event("chapter_completed", chapter_id="ch-1", user_id=u) for u in users]
    resp = await client.post("/v1/events", json={"events": events}, headers=auth())
    assert resp.status == 202, await resp.text()


async def test_the_sampler_counts_pending_leased_and_dead_batches(
    client: TestClient, pipeline: Pipeline, redis: Redis, settings: Settings
) -> None:
    await post_users(client, [f"u-{i}" for i in range(10)])
    snap = await sample_queue(redis, settings.shards, settings.merge_window_ms)
    assert (snap.pending, snap.inflight, snap.dead) == (10, 0, 0)
    assert 0 <= snap.oldest_pending_s < 5

    shard = next(s.shard for s in snap.shards if s.pending)
    batch = await pipeline.buffer.drain(shard, 1000)
    leased = len(batch.entries)
    await pipeline.buffer.dead_letter(batch, f"{batch.batch_id}.x", [batch.entries[0][0]],
                                      {"error": "test"}, finish=False)
    snap = await sample_queue(redis, settings.shards, settings.merge_window_ms)
    assert (snap.pending, snap.inflight, snap.dead) == (10 - leased, 1, 1)


async def test_the_oldest_age_counts_back_the_merge_window(
    redis: Redis, settings: Settings
) -> None:
    now = int(time.time() * 1000)
    await redis.zadd("wm:{wm.1}:due", {"a": now + 1000, "b": now + 5000})
    snap = await sample_queue(redis, settings.shards, merge_window_ms=3000)
    assert snap.pending == 2
    assert 1.9 <= snap.oldest_pending_s <= 2.5  # a arrived 2 s ago: due 1 s ahead, window 3 s


async def test_a_sample_is_four_cheap_commands_per_shard_and_never_a_scan(
    redis: Redis, settings: Settings
) -> None:
    await redis.config_resetstat()
    await sample_queue(redis, settings.shards, settings.merge_window_ms)
    stats = await redis.info("commandstats")
    calls = {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()}
    calls = {k: v for k, v in calls.items() if not k.startswith("config")}
    assert calls == {"zcard": 3 * settings.shards, "zrange": settings.shards}
