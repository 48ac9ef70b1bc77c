"""Any arrival order of any attempt set ends in the statuses, summaries and chapter completions
the assessment rules define (``tests/assessments/reference.py``), through the real pipeline.

Hypothesis draws a quiz definition (limit, cooldown, scoring) and attempts from a small pool of
attempt ids (so two learners share ids and one learner sends one attempt id under two event
ids), resets and uncompletes of the quiz's chapter; sends them in random order and batches with
resends and random flushes, sometimes changing the definition midway (the course's recompute
then reassesses what is stored); then compares every attempt, summary and chapter row with the
reference under the final definition.
"""

from __future__ import annotations

import os
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.assessments.reference import RefQuiz, assess
from tests.helpers import CATALOG, auth, now_ms
from tests.integration.test_merge_property import reset_state
from tests.pipeline import Pipeline
from workers.main import recompute_course

USERS = ["u-1", "u-2"]
QUIZZES = ["q-1", "q-2"]  # q-1 defined in the catalog (chapter ch-2), q-2 not
BASE_TS = now_ms() - 3_600_000


@st.composite
def an_event(draw: st.DrawFn, n: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(["quiz_attempt"] * 6 + ["course_reset", "chapter_uncompleted"]))
    ev: dict[str, Any] = {"id": f"e{n:03d}", "type": kind, "user_id": draw(st.sampled_from(USERS)),
                          "course_id": "c-1", "ts": BASE_TS + draw(st.integers(0, 20)) * 500}
    if kind == "quiz_attempt":
        ev.update(quiz_id=draw(st.sampled_from(QUIZZES)),
                  attempt_id=f"a{draw(st.integers(0, 6))}",
                  score=draw(st.sampled_from([3, 7, 10])), max_score=10,
                  chapter_id=draw(st.sampled_from(["ch-1", "ch-3"])))
        if draw(st.integers(0, 3)) == 0:
            ev["passed"] = draw(st.booleans())
    if kind == "chapter_uncompleted":
        ev["chapter_id"] = draw(st.sampled_from(["ch-1", "ch-2"]))
    return ev


@settings(max_examples=int(os.environ.get("WAYMARK_ASSESSMENT_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_any_arrival_order_gives_the_reference_assessment(
    data: st.DataObject, client: TestClient, pipeline: Pipeline,
    redis_url: str, database_url: str,
) -> None:
    await reset_state(redis_url, database_url)
    rule = await put_rule(client, data)
    events = [data.draw(an_event(i)) for i in range(data.draw(st.integers(1, 24)))]
    stream = list(data.draw(st.permutations(events)))
    for ev in data.draw(st.lists(st.sampled_from(events), max_size=5)):
        stream.insert(data.draw(st.integers(0, len(stream))), ev)
    change_at = data.draw(st.one_of(st.none(), st.integers(0, len(stream))))
    i = 0
    while i < len(stream):
        if change_at is not None and i >= change_at:  # the definition changes midway
            change_at, rule = None, await put_rule(client, data)
            await pipeline.flush()
            await recompute_course(pipeline.ctx, "c-1", rule.pop("version"))
        size = data.draw(st.integers(1, 6))
        resp = await client.post("/v1/events", json={"events": stream[i:i + size]},
                                 headers=auth())
        assert resp.status == 202 and (await resp.json())["rejected"] == []
        i += size
        if data.draw(st.booleans()):
            await pipeline.flush()
    await pipeline.flush()
    refs = {
        (u, q): assess(events, u, "c-1", q, passing=70, **(
            {"max_attempts": rule["max_attempts"], "cooldown_ms": rule["cooldown_s"] * 1000,
             "scoring": rule["scoring"]} if q == "q-1"
            else {"max_attempts": None, "cooldown_ms": 0, "scoring": "best"}))
        for u in USERS for q in QUIZZES
    }
    await assert_matches(events, refs, database_url)


async def put_rule(client: TestClient, data: st.DataObject) -> dict[str, Any]:
    """Store a drawn definition of q-1; return it with the catalog's version."""
    rule = {"max_attempts": data.draw(st.sampled_from([None, 1, 2, 3])),
            "cooldown_s": data.draw(st.sampled_from([0, 1, 3])),
            "scoring": data.draw(st.sampled_from(["best", "last", "average"]))}
    quiz = {"quiz_id": "q-1", "chapter_id": "ch-2", "passing_score": 70} | rule
    resp = await client.put("/v1/courses/c-1", json=CATALOG | {"quizzes": [quiz]}, headers=auth())
    assert resp.status == 200, await resp.text()
    return rule | {"version": (await resp.json())["version"]}


async def assert_matches(
    events: list[dict[str, Any]], refs: dict[tuple[str, str], RefQuiz], database_url: str
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        attempts = await conn.fetch(
            "SELECT user_id, quiz_id, attempt_id, status, passed FROM quiz_attempts")
        summaries = {(r["user_id"], r["quiz_id"]): r
                     for r in await conn.fetch("SELECT * FROM quiz_summary")}
        chapters = {(r["user_id"], r["chapter_id"]): r for r in await conn.fetch(
            "SELECT user_id, chapter_id, completed,"
            " (extract(epoch FROM completed_at) * 1000)::int8 AS c_ms FROM chapter_progress")}
    finally:
        await conn.close()
    for (u, q), ref in refs.items():
        got = {r["attempt_id"]: (r["status"], r["passed"]) for r in attempts
               if (r["user_id"], r["quiz_id"]) == (u, q)}
        assert got == ref.statuses, (u, q)
        s = summaries.get((u, q))
        if s is None:
            assert not ref.statuses, (u, q)
            continue
        assert (s["attempts"], s["passed"], s["attempts_left"]) == (
            ref.counted, ref.passed, ref.attempts_left), (u, q)
        assert s["kept_percent"] == pytest.approx(ref.kept_percent), (u, q)
    for u in USERS:
        for ch in ("ch-1", "ch-2", "ch-3"):
            want = chapter_completion(events, refs, u, ch)
            row = chapters.get((u, ch))
            got = (row["completed"], row["c_ms"] if row["completed"] else None) if row else None
            assert (got or (False, None)) == want, (u, ch)


def chapter_completion(
    events: list[dict[str, Any]], refs: dict[tuple[str, str], RefQuiz], user: str, chapter: str
) -> tuple[bool, int | None]:
    """Completed iff the latest of {quiz facts of the chapter, uncompletes} is a fact."""
    distinct = {e["id"]: e for e in events}.values()
    reset = max((e["ts"] for e in distinct if e["type"] == "course_reset"
                 and e["user_id"] == user), default=-1)
    facts = []
    for q in QUIZZES:
        fact = refs[(user, q)].fact
        if fact is None:
            continue
        by_id = next(e for e in distinct if e["id"] == fact[1])
        home = "ch-2" if q == "q-1" else by_id["chapter_id"]
        if home == chapter:
            facts.append(fact)
    uncompletes = [(e["ts"], e["id"]) for e in distinct if e["type"] == "chapter_uncompleted"
                   and e["user_id"] == user and e["chapter_id"] == chapter and e["ts"] > reset]
    last_u = max(uncompletes, default=(-1, ""))
    after = [f for f in facts if f > last_u]
    return (True, min(f[0] for f in after)) if after else (False, None)
