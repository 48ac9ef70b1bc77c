"""Random histories through the real pipeline hold the achievements, points and certificates
the reference model (``tests/achievement_reference.py``) gives, each award exactly once.

Hypothesis draws events over several days for two learners (any order, resends, batch splits,
flushes at random moments). ``u-1`` also gets resets and uncompletes; ``u-2`` only progress and
completions. Every achievement, its moment, the points balance and the certificates are checked
for both. A course counts once some reset epoch holds a completion of each required chapter;
one that counted is never taken back when a reset arriving later splits its epoch, so the model
is also given what was applied at each flush.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.achievement_reference import RefDefinition, awards, balance, completed_courses
from tests.helpers import auth, now_ms
from tests.integration.test_merge_property import reset_state, within_tail
from tests.pipeline import Pipeline

HOUR = 3_600_000
BASE_TS = now_ms() - 6 * 24 * HOUR
CHAPTERS = ["ch-1", "ch-2", "ch-x"]
REQUIRED = {"c-1": ["ch-1", "ch-2"]}
CATALOG = {"title": "Rewarded", "certificate": {"enabled": True}, "modules": [
    {"module_id": "m", "chapters": [{"chapter_id": "ch-1", "points": 5},
                                    {"chapter_id": "ch-2"}]}]}
DEFINITIONS = [
    RefDefinition("one", "chapters_completed", 1, 10),
    RefDefinition("three", "chapters_completed", 3, 20),
    RefDefinition("scoped", "chapters_completed", 2, 0, "c-1"),
    RefDefinition("time", "time_spent_s", 40, 1),
    RefDefinition("streak", "streak_days", 3, 2),
    RefDefinition("course", "courses_completed", 1, 7),
]
EXAMPLES = int(os.environ.get("WAYMARK_ACHIEVEMENT_EXAMPLES", "20"))


@st.composite
def an_event(draw: st.DrawFn, n: int, user: str) -> dict[str, Any]:
    kinds = ["chapter_progress"] * 4 + ["chapter_completed"] * 2
    if user == "u-1":
        kinds += ["chapter_uncompleted", "course_reset"]
    kind = draw(st.sampled_from(kinds))
    ev: dict[str, Any] = {"id": f"{user}-e{n:03d}", "type": kind, "user_id": user,
                          "course_id": "c-1", "ts": BASE_TS + draw(st.integers(0, 40)) * 3 * HOUR
                          + draw(st.integers(0, 3))}
    if kind != "course_reset":
        ev["chapter_id"] = draw(st.sampled_from(CHAPTERS))
    if kind == "chapter_progress":
        ev["progress"] = draw(st.sampled_from([10, 50, 100]))
    if kind in ("chapter_progress", "chapter_completed"):
        ev["time_spent_s"] = draw(st.sampled_from([0, 5, 15]))
    return ev


async def _state(database_url: str) -> tuple[Any, ...]:
    conn = await asyncpg.connect(database_url)
    try:
        held = {(r["user_id"], r["achievement_id"]): (r["awarded_ts"], r["awarded_event_id"])
                for r in await conn.fetch("SELECT * FROM achievement_awards")}
        ledger = await conn.fetch("SELECT user_id, entry_id, points FROM points_ledger")
        certs = Counter((r["user_id"], r["scope_id"]) for r in await conn.fetch(
            "SELECT user_id, scope_id FROM certificates"))
        awarded = Counter((r["user_id"], r["aid"]) for r in await conn.fetch(
            "SELECT user_id, payload->>'achievement_id' AS aid FROM outbox"
            " WHERE type = 'achievement.awarded'"))
        issued = Counter(r["user_id"] for r in await conn.fetch(
            "SELECT user_id FROM outbox WHERE type = 'certificate.issued'"))
    finally:
        await conn.close()
    return held, ledger, certs, awarded, issued


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_any_history_holds_the_models_achievements_points_and_certificates_once(
    data: st.DataObject, client: TestClient, pipeline: Pipeline,
    redis_url: str, database_url: str,
) -> None:
    await reset_state(redis_url, database_url)
    assert (await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())).status == 200
    for d in DEFINITIONS:
        body = {"points": d.points, "criteria": {"kind": d.kind, "threshold": d.threshold,
                                                 "course_id": d.course_id}}
        resp = await client.put(f"/v1/achievements/{d.achievement_id}", json=body, headers=auth())
        assert resp.status == 200, await resp.text()
    events: list[dict[str, Any]] = []
    for user in ("u-1", "u-2"):
        n = data.draw(st.integers(1, 25), label=f"{user} events")
        events += within_tail([data.draw(an_event(i, user)) for i in range(n)])
    stream = list(data.draw(st.permutations(events)))
    for ev in data.draw(st.lists(st.sampled_from(events), max_size=6), label="resends"):
        stream.insert(data.draw(st.integers(0, len(stream))), ev)
    i, known = 0, []
    while i < len(stream):
        size = data.draw(st.integers(1, 8))
        resp = await client.post("/v1/events", json={"events": stream[i:i + size]},
                                 headers=auth())
        assert resp.status == 202 and (await resp.json())["rejected"] == []
        i += size
        if data.draw(st.booleans()):
            await pipeline.flush()
            known.append(stream[:i])
    await pipeline.flush()

    held, ledger, certs, awarded, issued = await _state(database_url)
    assert all(n == 1 for n in awarded.values()), awarded  # each award's event exactly once
    assert set(awarded) == set(held)
    for user in ("u-1", "u-2"):
        want = awards(events, user, DEFINITIONS, REQUIRED, known)
        got = {aid: m for (u, aid), m in held.items() if u == user}
        # a course's moment is the ts of the completion that finished it (its id is not kept)
        got = {a: (m[0], "") if a == "course" else m for a, m in got.items()}
        want = {a: (m[0], "") if a == "course" else m for a, m in want.items()}
        assert got == want, user
        assert sum(r["points"] for r in ledger if r["user_id"] == user) == balance(
            events, user, DEFINITIONS, REQUIRED, {("c-1", "ch-1"): 5}, known)
        want_certs = completed_courses(events, user, REQUIRED, known)
        assert {c for (u, c) in certs if u == user} == want_certs, user
        assert issued[user] == len(want_certs)
    assert all(n == 1 for n in certs.values())
