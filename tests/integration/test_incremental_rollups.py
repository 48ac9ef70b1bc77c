"""Course rollups moved by delta equal the full recompute, column for column, after every flush.

Hypothesis draws heartbeat-heavy streams (uneven progress values, late and early timestamps,
chapters in and out of the catalog, a course without a catalog) with now and then a completion,
uncomplete, reset, view or quiz attempt, sends them in random batches with resends and flushes
at random moments. After each flush every course row must equal what the full recompute
statement writes over the same chapter rows (run in a transaction rolled back after).
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.rollup import RECOMPUTE_SQL
from tests.helpers import CATALOG, auth, now_ms
from tests.integration.test_merge_property import reset_state
from tests.pipeline import Pipeline

USERS = ["u-1", "u-2", "u-3"]
COURSES = ["c-1", "c-1", "c-1", "c-2"]  # c-2 has no catalog
CHAPTERS = ["ch-1", "ch-2", "ch-3", "ch-4", "ch-x"]  # ch-4 optional, ch-x not in the catalog
BASE_TS = now_ms() - 3_600_000
SKIP = ("updated_at", "rolled_at")  # when, not what


@st.composite
def an_event(draw: st.DrawFn, n: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(
        ["chapter_progress"] * 16 + ["chapter_completed", "chapter_uncompleted",
                                     "course_reset", "course_viewed", "quiz_attempt"]
    ))
    ev: dict[str, Any] = {
        "id": f"e{n:03d}", "type": kind, "user_id": draw(st.sampled_from(USERS)),
        "course_id": draw(st.sampled_from(COURSES)),
        "ts": BASE_TS + draw(st.integers(0, 600)) * 500,
    }
    if kind in ("chapter_progress", "chapter_completed", "chapter_uncompleted"):
        ev["chapter_id"] = draw(st.sampled_from(CHAPTERS))
    if kind == "chapter_progress":
        ev["progress"] = draw(st.one_of(
            st.sampled_from([0, 12.5, 33.333, 50, 66.67, 99.99]),
            st.floats(0, 99, allow_nan=False).map(lambda x: round(x, 3)),
        ))
        ev["time_spent_s"] = draw(st.sampled_from([0, 0.5, 1.5, 10, 30]))
        ev["position_s"] = float(draw(st.integers(0, 900)))
    if kind == "quiz_attempt":
        ev.update(quiz_id="q-1", attempt_id=f"a{n}", score=draw(st.sampled_from([3, 10])),
                  max_score=10, chapter_id=draw(st.sampled_from(CHAPTERS)))
    return ev


async def course_rows(conn: asyncpg.Connection) -> dict[tuple[str, str], dict[str, Any]]:
    rows = await conn.fetch("SELECT * FROM course_progress ORDER BY user_id, course_id")
    return {(r["user_id"], r["course_id"]): {k: v for k, v in r.items() if k not in SKIP}
            for r in rows}


async def assert_rows_equal_the_full_recompute(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        stored = await course_rows(conn)
        tr = conn.transaction()
        await tr.start()
        try:
            keys = sorted(stored)
            moved = await conn.fetch(RECOMPUTE_SQL, [k[0] for k in keys], [k[1] for k in keys])
            recomputed = await course_rows(conn)
        finally:
            await tr.rollback()
    finally:
        await conn.close()
    assert [dict(r) for r in moved] == []
    for key in sorted(recomputed):
        assert stored[key] == recomputed[key], key


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_rollups_by_delta_equal_the_full_recompute_after_every_flush(
    data: st.DataObject, client: TestClient, pipeline: Pipeline,
    redis_url: str, database_url: str,
) -> None:
    await reset_state(redis_url, database_url)
    resp = await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())
    assert resp.status == 200
    events = [data.draw(an_event(i)) for i in range(data.draw(st.integers(5, 80)))]
    stream = list(data.draw(st.permutations(events)))
    for ev in data.draw(st.lists(st.sampled_from(events), max_size=8), label="resends"):
        stream.insert(data.draw(st.integers(0, len(stream))), ev)
    i = 0
    while i < len(stream):
        size = data.draw(st.integers(1, 12))
        resp = await client.post("/v1/events", json={"events": stream[i:i + size]},
                                 headers=auth())
        assert resp.status == 202, await resp.text()
        i += size
        if data.draw(st.integers(0, 2)) == 0:
            await pipeline.flush()
            await assert_rows_equal_the_full_recompute(database_url)
    await pipeline.flush()
    await assert_rows_equal_the_full_recompute(database_url)


def heartbeat(n: int, user: str = "u-1", chapter: str = "ch-1") -> dict[str, Any]:
    return {"id": f"hb{n}", "type": "chapter_progress", "user_id": user, "course_id": "c-1",
            "chapter_id": chapter, "ts": BASE_TS + n * 10_000, "progress": 10.0 * n,
            "time_spent_s": 10}


async def send_and_flush(client: TestClient, pipeline: Pipeline, *events: dict[str, Any]) -> None:
    resp = await client.post("/v1/events", json={"events": list(events)}, headers=auth())
    assert resp.status == 202, await resp.text()
    await pipeline.flush()


async def test_a_heartbeat_moves_the_course_row_by_delta_and_a_foreign_write_sends_it_to_the_full_recompute(  # noqa: E501
    client: TestClient, pipeline: Pipeline, redis_url: str, database_url: str,
) -> None:
    await reset_state(redis_url, database_url)
    assert (await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())).status == 200
    await send_and_flush(client, pipeline, heartbeat(1))
    conn = await asyncpg.connect(database_url)
    try:
        # an offset only a delta keeps (the full recompute re-sums the chapters)
        await conn.execute("UPDATE course_progress SET time_spent_ms = time_spent_ms + 7")
        await send_and_flush(client, pipeline, heartbeat(2))
        row = await conn.fetchrow("SELECT * FROM course_progress")
        assert row["time_spent_ms"] == 20_007
        assert row["avg_progress"] == 5.0  # 20 % on ch-1 over the 4 catalog chapters
        assert row["status"] == "in_progress"
        # a write by anything but a rollup (updated_at moves): the next batch recomputes
        await conn.execute("UPDATE course_progress SET updated_at = now() - interval '1 s'")
        await send_and_flush(client, pipeline, heartbeat(3))
        row = await conn.fetchrow("SELECT * FROM course_progress")
        assert row["time_spent_ms"] == 30_000 and row["avg_progress"] == 7.5
        # a catalog version the sum was not taken under: recomputed too
        await conn.execute("UPDATE course_progress SET time_spent_ms = time_spent_ms + 7")
        await conn.execute("UPDATE courses SET version = version + 1")
        await send_and_flush(client, pipeline, heartbeat(4))
        row = await conn.fetchrow("SELECT * FROM course_progress")
        assert row["time_spent_ms"] == 40_000
        assert row["avg_progress"] == 10.0
    finally:
        await conn.close()
