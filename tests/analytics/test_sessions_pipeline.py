"""Sessions kept by the real apply step equal the reference, whatever the arrival.

Random histories of two learners over two courses — chapter events, quiz attempts, views and
resets, with gaps on both sides of the session gap — are sent in any order, with duplicates,
in random batches flushed at random points, so late events extend and bridge sessions already
stored. The stored sessions and the sessions read must equal the reference model's.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.session_rules import DEFAULT_GAP_MS
from aggregator.sessions import stored_session
from tests.analytics.reference import day_of, reference_sessions
from tests.analytics.support import send_in_any_order
from tests.helpers import CATALOG, auth, now_ms
from tests.integration.test_merge_property import reset_state
from tests.pipeline import Pipeline

BASE_TS = now_ms() - 3 * 86_400_000
STEPS = [0, 1, 60_000, DEFAULT_GAP_MS - 1, DEFAULT_GAP_MS, DEFAULT_GAP_MS + 1, 3 * DEFAULT_GAP_MS]


@st.composite
def a_history(draw: st.DrawFn, user: str) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 25))
    ts = BASE_TS + draw(st.integers(0, 86_400_000))
    out: list[dict[str, Any]] = []
    for i in range(n):
        ts += draw(st.sampled_from(STEPS))
        kind = draw(st.sampled_from(["chapter_progress"] * 4 + [
            "chapter_completed", "chapter_uncompleted", "quiz_attempt", "course_viewed",
            "course_reset",
        ]))
        ev: dict[str, Any] = {"id": f"{user}-{i:03d}", "type": kind, "user_id": user,
                              "course_id": draw(st.sampled_from(["c-1", "c-2"])), "ts": ts}
        if kind.startswith("chapter_"):
            ev["chapter_id"] = draw(st.sampled_from(["ch-1", "ch-2", "ch-3"]))
        if kind == "chapter_progress":
            ev.update(progress=draw(st.sampled_from([10, 50, 100])),
                      time_spent_s=draw(st.sampled_from([0, 1.5, 30])))
        if kind == "quiz_attempt":
            ev.update(quiz_id="q-1", attempt_id=f"{user}-a{i}", score=8, max_score=10)
        out.append(ev)
    return out


async def stored(database_url: str) -> dict[str, list[Any]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT * FROM learner_sessions ORDER BY user_id, started_ms")
        days = await conn.fetch("SELECT user_id, course_id, day FROM course_activity_days")
    finally:
        await conn.close()
    out: dict[str, list[Any]] = {}
    for r in rows:
        out.setdefault(r["user_id"], []).append(stored_session(r))
    out["_days"] = sorted((r["user_id"], r["course_id"], r["day"]) for r in days)
    return out


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_sessions_equal_the_reference_in_any_arrival_order(
    data: st.DataObject, client: TestClient, pipeline: Pipeline,
    redis_url: str, database_url: str,
) -> None:
    await reset_state(redis_url, database_url)
    resp = await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())
    assert resp.status == 200
    events = data.draw(a_history("u-1")) + data.draw(a_history("u-2"))
    await send_in_any_order(data, client, pipeline, events)
    want = reference_sessions(events, DEFAULT_GAP_MS)
    got = await stored(database_url)
    for user in ("u-1", "u-2"):
        assert [
            (s.started_ms, s.ended_ms, s.events, s.time_ms, s.courses, s.chapters)
            for s in got.get(user, [])
        ] == [
            (s.started_ms, s.ended_ms, s.events, s.time_ms, s.courses, s.chapters)
            for s in want.get(user, [])
        ]
    want_days = sorted({(u, c, day_of(s)) for u, c, s in (
        (e["user_id"], e["course_id"], e["ts"]) for e in events
        if e["type"].startswith("chapter_") or e["type"] == "quiz_attempt")})
    assert got["_days"] == want_days
    resp = await client.get("/v1/users/u-1/sessions", params={
        "from": day_of(BASE_TS).isoformat(), "to": day_of(now_ms()).isoformat()},
        headers=auth())
    assert resp.status == 200
    read = (await resp.json())["sessions"]
    assert [s["events"] for s in read] == [s.events for s in want.get("u-1", [])]
