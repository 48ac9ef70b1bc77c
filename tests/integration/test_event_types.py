"""Every event type, end to end: HTTP → Redis → worker → PostgreSQL → read API."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from aiohttp.test_utils import TestClient

from tests.helpers import event, now_ms
from tests.integration.test_pipeline import chapter, post, progress, put_catalog
from tests.pipeline import Pipeline


async def test_an_uncomplete_takes_the_chapter_back_but_keeps_its_time(
    client: TestClient, pipeline: Pipeline
) -> None:
    await put_catalog(client)
    t = now_ms() - 60_000
    await post(client, [
        event("chapter_completed", chapter_id="ch-1", time_spent_s=20, ts=t),
        event("chapter_uncompleted", chapter_id="ch-1", ts=t + 1000),
        event("chapter_progress", chapter_id="ch-1", progress=30, ts=t + 2000),
    ])
    await pipeline.flush()
    ch = chapter(await progress(client), "ch-1")
    assert (ch["completed"], ch["progress"], ch["time_spent_s"]) == (False, 30, 20)


async def test_a_passing_quiz_completes_its_chapter_and_is_stored_once(
    client: TestClient, pipeline: Pipeline, database_url: str
) -> None:
    await put_catalog(client)
    quiz = event("quiz_attempt", quiz_id="q-1", attempt_id="att-1", score=8, max_score=10,
                 chapter_id="ch-2", responses=[{"question_id": "q1", "answer_ids": ["a"]}])
    failing = event("quiz_attempt", quiz_id="q-1", attempt_id="att-2", score=5, max_score=10,
                    chapter_id="ch-1")
    await post(client, [quiz, failing])
    await post(client, [quiz])  # a retried batch
    await pipeline.flush()
    view = await progress(client)
    assert chapter(view, "ch-2")["completed"] is True  # 80 % ≥ default passing score 70
    assert chapter(view, "ch-1")["completed"] is False
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT attempt_id, passed FROM quiz_attempts ORDER BY 1")
    finally:
        await conn.close()
    assert [(r["attempt_id"], r["passed"]) for r in rows] == [("att-1", True), ("att-2", False)]


async def test_enrollment_is_latest_by_ts(client: TestClient, pipeline: Pipeline) -> None:
    t = now_ms() - 60_000
    await post(client, [
        event("enrollment", status="paused", ts=t + 2000),
        event("enrollment", status="enrolled", ts=t),
    ])
    await pipeline.flush()
    view = await progress(client)
    assert view["enrollment_status"] == "paused"
    assert view["percent_complete"] is None  # no catalog yet
    assert view["status"] == "not_started"


async def test_a_reset_ignores_later_arriving_older_events(
    client: TestClient, pipeline: Pipeline
) -> None:
    await put_catalog(client)
    t = now_ms() - 60_000
    await post(client, [event("chapter_completed", chapter_id="ch-1", time_spent_s=10, ts=t)])
    await pipeline.flush()
    await post(client, [event("course_reset", ts=t + 5000)])
    await pipeline.flush()
    await post(client, [
        event("chapter_completed", chapter_id="ch-2", ts=t + 1000),  # before the reset: ignored
        event("chapter_progress", chapter_id="ch-3", progress=40, time_spent_s=5, ts=t + 6000),
    ])
    await pipeline.flush()
    view = await progress(client)
    assert chapter(view, "ch-1")["completed"] is False
    assert chapter(view, "ch-2")["completed"] is False
    assert chapter(view, "ch-3")["progress"] == 40
    assert view["time_spent_s"] == 5
    assert view["percent_complete"] == 0


async def test_a_view_creates_the_course_record_at_zero(
    client: TestClient, pipeline: Pipeline
) -> None:
    await put_catalog(client)
    ts = now_ms() - 60_000
    await post(client, [event("course_viewed", chapter_id="ch-2", ts=ts)])
    await pipeline.flush()
    view = await progress(client)
    assert view["percent_complete"] == 0
    assert view["status"] == "not_started"
    assert view["last_viewed_chapter_id"] == "ch-2"
    assert view["last_accessed_at"] is not None


async def test_duplicates_are_counted_once(client: TestClient, pipeline: Pipeline) -> None:
    ev = event("chapter_progress", chapter_id="ch-1", progress=10, time_spent_s=10)
    first = await post(client, [ev, ev])
    again = await post(client, [ev])
    assert (first["accepted"], first["duplicates"]) == (1, 1)
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    await pipeline.flush()
    assert chapter(await progress(client), "ch-1")["time_spent_s"] == 10


async def test_a_replayed_source_seq_is_a_duplicate_at_any_age(
    client: TestClient, pipeline: Pipeline
) -> None:
    evs = [event("chapter_progress", chapter_id="ch-1", progress=10 * i, time_spent_s=1,
                 source_id="phone-1", seq=i) for i in range(1, 4)]
    assert (await post(client, evs))["accepted"] == 3
    replay = [dict(e, id=f"new-id-{i}") for i, e in enumerate(evs)]  # same seqs, new ids
    assert (await post(client, replay))["duplicates"] == 3
    await pipeline.flush()
    assert chapter(await progress(client), "ch-1")["time_spent_s"] == 3


async def test_sent_at_corrects_client_clock_skew(client: TestClient, pipeline: Pipeline) -> None:
    # The client's clock is 200 days behind: its ts would be out of range without sent_at.
    skew = 200 * 86400 * 1000
    client_now = now_ms() - skew
    ev = event("chapter_progress", chapter_id="ch-1", progress=5, ts=client_now - 1000)
    resp = await client.post("/v1/events", json={"sent_at": client_now, "events": [ev]},
                             headers={"Authorization": "Bearer test-admin-secret"})
    assert (await resp.json())["accepted"] == 1
    await pipeline.flush()
    first = chapter(await progress(client), "ch-1")["first_activity_at"]
    shifted_ms = datetime.fromisoformat(first).timestamp() * 1000
    assert abs(shifted_ms - (now_ms() - 1000)) < 60_000
