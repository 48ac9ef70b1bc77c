"""Acknowledged batches are kept for ``waymark replay`` as long as the retention says."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import asyncpg
from aiohttp.test_utils import TestClient

from buffer.replay import retained
from tests.helpers import event
from tests.integration.test_pipeline import post
from tests.pipeline import Pipeline
from waymark.settings import Settings
from workers.replay import ReplayReport, apply_again


async def test_every_applied_batch_is_retained_in_order_with_its_entries(
    client: TestClient, settings: Settings
) -> None:
    async with Pipeline.open(settings.replace(replay_retention_s=60)) as pipeline:
        for i in range(3):
            await post(client, [event("chapter_completed", user_id=f"u{i}", chapter_id="ch")])
            await pipeline.flush()
        kept = [b async for b in retained(pipeline.buffer.redis, settings.shards)]
    assert [b.batch.entries[0][0] for b in kept] == ["u0|c-1|ch", "u1|c-1|ch", "u2|c-1|ch"]
    assert [b.stream_id for b in kept] == sorted(b.stream_id for b in kept)


async def test_nothing_is_retained_without_a_retention_and_old_batches_are_trimmed(
    client: TestClient, settings: Settings
) -> None:
    async with Pipeline.open(settings.replace(replay_retention_s=0)) as pipeline:
        await post(client, [event("chapter_completed", chapter_id="ch")])
        await pipeline.flush()
        assert [b async for b in retained(pipeline.buffer.redis, settings.shards)] == []
    async with Pipeline.open(settings.replace(replay_retention_s=1)) as pipeline:
        for i in range(150):  # a stream trims whole nodes of 100 entries: fill more than one
            await post(client, [event("chapter_completed", chapter_id=f"ch{i}")])
            await pipeline.flush()
        await asyncio.sleep(1.1)
        await post(client, [event("chapter_completed", chapter_id="last")])
        await pipeline.flush()
        kept = [b async for b in retained(pipeline.buffer.redis, settings.shards)]
    assert 1 <= len(kept) <= 51  # the first node, past the retention, is gone
    assert kept[-1].batch.entries[0][0] == "u-1|c-1|last"


async def test_a_batch_with_a_key_that_fails_again_is_applied_key_by_key(
    client: TestClient, settings: Settings
) -> None:
    """A retained batch may hold a key the workers dead-lettered: the rest still comes back."""
    async with Pipeline.open(settings) as pipeline:
        await post(client, [event("chapter_completed", user_id="u1", chapter_id="ch")])
        shard = pipeline.buffer.shard_of("u1")
        drained = await pipeline.buffer.drain(shard, 10)
        assert drained is not None
        poisoned = replace(drained, entries=[("u1|c-1|bad", b"\xc1not msgpack"), *drained.entries])
        report = ReplayReport()
        applied = await apply_again(pipeline.state.pool, poisoned, settings, None, report)
        again = await apply_again(pipeline.state.pool, poisoned, settings, None, ReplayReport())
    assert (applied, report.failed_keys) == (True, 1)
    assert again is False  # the good key's part is in the ledger now
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch("SELECT chapter_id, completed FROM chapter_progress")
    finally:
        await conn.close()
    assert [tuple(r) for r in rows] == [("ch", True)]
