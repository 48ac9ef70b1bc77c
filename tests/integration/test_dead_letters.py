"""Dead letters: listed, shown and re-queued by the operator command, then applied."""

from __future__ import annotations

import io

from aiohttp.test_utils import TestClient

from tests.helpers import event
from tests.integration.test_pipeline import chapter, post, progress
from tests.pipeline import Pipeline
from waymark.settings import Settings
from workers import deadletters


async def test_a_requeued_dead_letter_is_applied_by_the_next_flush(
    client: TestClient, pipeline: Pipeline, settings: Settings
) -> None:
    await post(client, [event("chapter_progress", chapter_id="ch-1", progress=60,
                              time_spent_s=4)])
    buffer = pipeline.buffer
    shard = buffer.shard_of("u-1")
    batch = await buffer.drain(shard, 10)
    assert batch is not None
    keys = [k for k, _ in batch.entries]
    meta = {"error": "ValueError: boom", "tries": 5, "at": 0.0, "batch_id": batch.batch_id}
    await buffer.dead_letter(batch, f"{batch.batch_id}.0", keys, meta, finish=True)
    assert await buffer.dead_letter_count() == 1
    assert await pipeline.flush() == 0  # nothing left to apply: the key is dead-lettered

    out = io.StringIO()
    assert await deadletters.run(settings, "list", None, out) == 0
    assert "ValueError: boom" in out.getvalue() and "keys=1" in out.getvalue()
    out = io.StringIO()
    assert await deadletters.run(settings, "show", f"{batch.batch_id}.0", out) == 0
    assert "u-1|c-1|ch-1" in out.getvalue()
    out = io.StringIO()
    assert await deadletters.run(settings, "requeue", "all", out) == 0
    assert "requeued" in out.getvalue()
    assert await buffer.dead_letter_count() == 0

    await pipeline.flush()
    ch = chapter(await progress(client), "ch-1")
    assert (ch["progress"], ch["time_spent_s"]) == (60, 4)


async def test_an_unknown_dead_letter_is_reported(settings: Settings, redis_url: str) -> None:
    out = io.StringIO()
    assert await deadletters.run(settings, "show", "0-nope", out) == 1
    assert "no dead letter" in out.getvalue()
