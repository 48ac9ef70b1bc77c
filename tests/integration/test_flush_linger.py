"""A shard's few due keys wait for more (up to the linger) before they are drained as a batch."""

from __future__ import annotations

import dataclasses
import time

from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from tests.helpers import event
from tests.integration.test_pipeline import post
from tests.pipeline import Pipeline
from waymark.settings import Settings
from workers.main import flush_shard


async def _three_due_keys(client: TestClient, pipeline: Pipeline) -> int:
    await post(client, [event("chapter_progress", chapter_id=f"ch-{i}", progress=10)
                        for i in range(3)])
    return pipeline.buffer.shard_of("u-1")


async def test_fewer_keys_than_the_minimum_wait_until_the_oldest_lingered(
    client: TestClient, pipeline: Pipeline
) -> None:
    shard = await _three_due_keys(client, pipeline)
    buffer = pipeline.buffer
    wait = await buffer.drain_ready(shard, 1000, min_keys=4, linger_ms=60_000)
    assert isinstance(wait, float) and 59 < wait <= 60  # nothing leased meanwhile
    batch = await buffer.drain_ready(shard, 1000, min_keys=3, linger_ms=60_000)
    assert batch is not None and not isinstance(batch, float)
    assert len(batch.entries) == 3


async def test_keys_due_longer_than_the_linger_are_drained_however_few(
    client: TestClient, pipeline: Pipeline
) -> None:
    shard = await _three_due_keys(client, pipeline)
    buffer = pipeline.buffer
    due = buffer.key(shard, "due")
    long_ago = int(time.time() * 1000) - 5_000
    await buffer.redis.zadd(due, {k: long_ago for k in await buffer.redis.zrange(due, 0, -1)})
    batch = await buffer.drain_ready(shard, 1000, min_keys=100, linger_ms=1_000)
    assert batch is not None and not isinstance(batch, float)
    assert len(batch.entries) == 3
    assert await buffer.drain_ready(shard, 1000, min_keys=100, linger_ms=1_000) is None


async def test_a_flush_job_leaves_too_few_keys_to_a_later_job(
    client: TestClient, settings: Settings
) -> None:
    lingering = dataclasses.replace(settings, flush_min_keys=100, flush_linger_ms=60_000)
    async with Pipeline.open(lingering) as pipeline:
        shard = await _three_due_keys(client, pipeline)
        with capture_logs() as logs:
            assert await flush_shard(pipeline.ctx, shard) == 0
        [job] = [e for e in logs if e["event"] == "flush_job"]
        assert (job["batches"], job["ended"]) == (0, "lingering")
        assert await pipeline.buffer.pending_keys() == 3  # still there, none leased
        due = pipeline.buffer.key(shard, "due")
        long_ago = int(time.time() * 1000) - 61_000
        await pipeline.buffer.redis.zadd(
            due, {k: long_ago for k in await pipeline.buffer.redis.zrange(due, 0, -1)})
        assert await flush_shard(pipeline.ctx, shard) == 3  # the oldest has lingered enough


async def test_an_urgent_key_is_drained_at_once_however_few_are_due(
    client: TestClient, pipeline: Pipeline
) -> None:
    shard = await _three_due_keys(client, pipeline)
    await post(client, [event("chapter_completed", chapter_id="ch-9")])  # urgent: due now
    buffer = pipeline.buffer
    batch = await buffer.drain_ready(shard, 1000, min_keys=100, linger_ms=60_000)
    assert batch is not None and not isinstance(batch, float)
    assert "u-1|c-1|ch-9" in {k for k, _ in batch.entries}
    # the flag went with the keys it stood for: what comes next lingers again
    await _three_due_keys(client, pipeline)
    assert isinstance(await buffer.drain_ready(shard, 1000, min_keys=100, linger_ms=60_000), float)
