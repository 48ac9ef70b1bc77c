"""The Python SDK against the real ingest server, worker and PostgreSQL."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.conftest import INGEST_KEY
from tests.integration.test_pipeline import chapter, progress, put_catalog
from tests.pipeline import Pipeline
from waymark_client import AsyncProgressClient


async def test_sdk_events_become_course_progress_exactly_once(
    client: TestClient, pipeline: Pipeline
) -> None:
    await put_catalog(client)
    base_url = str(client.make_url("")).rstrip("/")
    async with AsyncProgressClient(INGEST_KEY, base_url=base_url, flush_interval=60) as sdk:
        for pct in (10, 40, 35):
            await sdk.progress("u-1", "c-1", "ch-1", pct, position_s=pct * 3, time_spent_s=10)
        await sdk.complete("u-1", "c-1", "ch-2", time_spent_s=5)
        await sdk.quiz_attempt("u-1", "c-1", "q-1", "att-1", score=9, max_score=10,
                               chapter_id="ch-3")
        assert await sdk.flush(timeout=10)
        stats = sdk.stats()
    await pipeline.flush()
    view = await progress(client)
    assert chapter(view, "ch-1")["progress"] == 40
    assert chapter(view, "ch-1")["time_spent_s"] == 30
    assert chapter(view, "ch-1")["position_s"] == 105
    assert chapter(view, "ch-2")["completed"] and chapter(view, "ch-3")["completed"]
    assert view["percent_complete"] == 75.0  # ch-2 (weight 1) + ch-3 (2) of 4
    # the three progress events were merged client-side into one
    assert (stats.merged, stats.accepted, stats.failed, stats.rejected) == (2, 3, 0, 0)
