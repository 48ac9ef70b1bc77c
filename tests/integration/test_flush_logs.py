"""A flush job logs one canonical line, and what it logs with a batch in hand names the batch."""

from __future__ import annotations

import time

from aiohttp.test_utils import TestClient
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from buffer.keys import keyid
from tests.helpers import event
from tests.integration.test_pipeline import post
from tests.pipeline import Pipeline
from workers.main import flush_shard


async def test_a_flush_job_ends_with_one_line_that_says_what_it_applied(
    client: TestClient, pipeline: Pipeline
) -> None:
    await post(client, [event("chapter_progress", chapter_id=f"ch-{i}", progress=10)
                        for i in range(3)])
    shard = pipeline.buffer.shard_of("u-1")
    with capture_logs(processors=[merge_contextvars]) as logs:
        assert await flush_shard({**pipeline.ctx, "job_id": "flush:test"}, shard) == 3
    [line] = [e for e in logs if e["event"] == "flush_job"]
    assert line["log_level"] == "info" and line["job_id"] == "flush:test"
    assert (line["shard"], line["batches"], line["keys"], line["ended"]) == (shard, 1, 3, "drained")
    assert line["duration_ms"] >= 0


async def test_a_failing_key_is_logged_with_its_batch_and_the_job_says_why_it_stopped(
    pipeline: Pipeline,
) -> None:
    buffer = pipeline.buffer
    shard, kid = buffer.shard_of("u-9"), keyid("u-9", "c-1", "ch-1")
    await buffer.redis.hset(buffer.key(shard, "buf"), kid, b"\xc1 not an entry")
    await buffer.redis.zadd(buffer.key(shard, "due"), {kid: int(time.time() * 1000)})
    with capture_logs(processors=[merge_contextvars]) as logs:
        assert await flush_shard(pipeline.ctx, shard) == 0
    [failed] = [e for e in logs if e["event"] == "batch_part_failed"]
    [job] = [e for e in logs if e["event"] == "flush_job"]
    assert failed["batch_id"].startswith(f"{shard}-") and failed["shard"] == shard
    assert job["ended"] == "poison_pending" and "batch_id" not in job
