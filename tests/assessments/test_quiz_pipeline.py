"""Assessments through the real pipeline: definitions, counting, grading, reads, events."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import CATALOG, auth, event, now_ms
from tests.integration.test_pipeline import chapter, post, progress
from tests.pipeline import Pipeline
from tests.progress.support import get, outbox, stop_background_relay
from workers.main import recompute_course

QUIZ = "/v1/users/u-1/courses/c-1/quizzes/q-1"


async def put_quizzes(client: TestClient, *quizzes: dict[str, Any], status: int = 200) -> Any:
    resp = await client.put("/v1/courses/c-1", json=CATALOG | {"quizzes": list(quizzes)},
                            headers=auth())
    assert resp.status == status, await resp.text()
    return await resp.json()


def attempt(aid: str, ts: int, score: float, **kw: Any) -> dict[str, Any]:
    return event("quiz_attempt", **{"quiz_id": "q-1", "attempt_id": aid, "ts": ts,
                                    "score": score, "max_score": 10, **kw})


@pytest.mark.parametrize(("quiz", "field"), [
    ({"max_attempts": 0}, "max_attempts"),
    ({"cooldown_s": -1}, "cooldown_s"),
    ({"scoring": "highest"}, "scoring"),
    ({"chapter_id": "ch-nope"}, "chapter_id"),
    ({"passing_score": 101}, "passing_score"),
    ({"questions": [{"question_id": "x"}, {"question_id": "x"}]}, "questions"),
])
async def test_a_bad_quiz_definition_is_refused_and_nothing_is_stored(
    client: TestClient, quiz: dict[str, Any], field: str
) -> None:
    body = await put_quizzes(client, {"quiz_id": "q-1"} | quiz, status=400)
    assert body["error"]["code"] == "invalid_catalog"
    assert field in body["error"]["message"]
    resp = await client.get("/v1/courses/c-1", headers=auth())
    assert resp.status == 404


async def test_attempts_are_checked_against_the_definition_at_ingest(
    client: TestClient, pipeline: Pipeline
) -> None:
    await put_quizzes(client, {"quiz_id": "q-1", "questions": [{"question_id": "q1"}]})
    t = now_ms() - 60_000
    body = await post(client, [
        attempt("a-1", t, 5, responses=[{"question_id": "q9", "answer_ids": ["a"]}]),
        attempt("a-2", t, 11),
        attempt("a-3", t, 5, responses=[{"question_id": "q1", "answer_ids": ["a"]}]),
    ])
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [
        (0, "unknown_question"), (1, "invalid_value")]
    await pipeline.flush()
    got = await get(client, f"{QUIZ}/attempts")
    assert [a["attempt_id"] for a in got["attempts"]] == ["a-3"]


async def test_a_late_attempt_recounts_earlier_ones_and_takes_the_chapter_back(
    client: TestClient, pipeline: Pipeline, database_url: str
) -> None:
    await stop_background_relay(pipeline)
    await put_quizzes(client, {"quiz_id": "q-1", "chapter_id": "ch-2", "max_attempts": 1})
    t = now_ms() - 60_000
    await post(client, [attempt("a-2", t + 20, 9)])
    await pipeline.flush()
    assert chapter(await progress(client), "ch-2")["completed"]
    await post(client, [attempt("a-1", t + 10, 3)])  # arrives late, happened first
    await pipeline.flush()
    got = (await get(client, f"{QUIZ}/attempts"))["attempts"]
    assert [(a["attempt_id"], a["status"], a["passed"]) for a in got] == [
        ("a-1", "counted", False), ("a-2", "over_limit", True)]
    view = await progress(client)
    assert not chapter(view, "ch-2")["completed"]
    (summary,) = view["quizzes"]
    assert (summary["attempts_counted"], summary["attempts_total"], summary["passed"],
            summary["attempts_left"]) == (1, 2, False, 0)
    types = [r["type"] for r in await outbox(database_url) if r["type"].startswith(("quiz",
                                                                                  "chapter"))]
    assert types == ["chapter.completed", "quiz.passed", "quiz.attempts_exhausted",
                     "chapter.uncompleted", "quiz.failed", "quiz.attempt_status_changed"]


async def test_the_server_grades_with_the_answer_key_and_keeps_the_clients_figures(
    client: TestClient, pipeline: Pipeline
) -> None:
    await put_quizzes(client, {"quiz_id": "q-1", "passing_score": 50, "questions": [
        {"question_id": "q1", "weight": 3, "correct_answer_ids": ["a"]},
        {"question_id": "q2", "weight": 1, "correct_answer_ids": ["b", "c"]},
    ]})
    await post(client, [attempt("a-1", now_ms() - 60_000, 1, passed=False, responses=[
        {"question_id": "q1", "answer_ids": ["a"], "time_s": 4},
        {"question_id": "q2", "answer_ids": ["b"]}])])
    await pipeline.flush()
    (a,) = (await get(client, f"{QUIZ}/attempts"))["attempts"]
    assert (a["score"], a["max_score"], a["percent"], a["passed"], a["graded"]) == (
        3, 4, 75, True, True)
    assert (a["client_score"], a["client_max_score"], a["client_passed"]) == (1, 10, False)
    assert [r["question_id"] for r in a["responses"]] == ["q1", "q2"]


async def test_eligibility_says_cooldown_until_when_then_attempts_exhausted(
    client: TestClient, pipeline: Pipeline
) -> None:
    await put_quizzes(client, {"quiz_id": "q-1", "max_attempts": 2, "cooldown_s": 3600},
                      {"quiz_id": "q-2", "max_attempts": 1})
    fresh = await get(client, f"{QUIZ}/eligibility")
    assert (fresh["eligible"], fresh["attempts_left"]) == (True, 2)
    t = now_ms() - 60_000
    await post(client, [attempt("a-1", t, 3), attempt("a-2", t + 30_000, 3),  # in the cooldown
                        attempt("b-1", t, 3, quiz_id="q-2")])
    await pipeline.flush()
    cool = await get(client, f"{QUIZ}/eligibility")
    assert (cool["eligible"], cool["reason"], cool["attempts_left"]) == (False, "cooldown", 1)
    later = await get(client, f"{QUIZ}/eligibility", params={"as_of": cool["next_attempt_at"]})
    assert later["eligible"]
    done = await get(client, "/v1/users/u-1/courses/c-1/quizzes/q-2/eligibility")
    assert (done["eligible"], done["reason"], done["attempts_left"]) == (
        False, "attempts_exhausted", 0)
    await get(client, f"{QUIZ}/eligibility", status=400, params={"as_of": "yesterday"})


async def test_item_statistics_match_a_hand_computed_fixture(
    client: TestClient, pipeline: Pipeline
) -> None:
    await put_quizzes(client, {"quiz_id": "q-1", "max_attempts": 2, "questions": [
        {"question_id": "k1", "correct_answer_ids": ["a"]},
        {"question_id": "open"},
    ]})
    t = now_ms() - 60_000

    def r(k1: list[str], correct: bool | None, time_s: float) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{"question_id": "k1", "answer_ids": k1, "time_s": time_s}]
        if correct is not None:
            out.append({"question_id": "open", "text": "...", "correct": correct})
        return out

    await post(client, [
        attempt("a-1", t, 0, user_id="u-1", responses=r(["a"], True, 10)),       # 100 %
        attempt("a-2", t + 1, 0, user_id="u-1", responses=r(["b"], False, 20)),  # 0 %
        attempt("a-3", t + 2, 0, user_id="u-1", responses=r(["a"], True, 99)),   # over_limit
        attempt("a-1", t, 0, user_id="u-2", responses=r(["a", "b"], None, 30)),  # 0 %
        attempt("a-1", t, 0, user_id="u-3", responses=r(["a", "a"], False, 0)),  # 100 %
    ])
    await pipeline.flush()
    s = await get(client, "/v1/courses/c-1/quizzes/q-1/stats")
    # counted: u-1 a-1 (100), u-1 a-2 (0), u-2 a-1 (0), u-3 a-1 (100)
    assert (s["attempts"], s["learners"], s["pass_rate"]) == (4, 3, round(2 / 3, 4))
    assert (s["mean_percent"], s["median_percent"]) == (50.0, 50.0)
    assert s["questions"] == [
        {"question_id": "k1", "responses": 4, "percent_correct": 50.0, "mean_time_s": 15.0},
        {"question_id": "open", "responses": 3, "percent_correct": 33.33, "mean_time_s": None},
    ]
    await get(client, "/v1/courses/c-1/quizzes/nope/stats", status=404)


async def test_statistics_follow_every_write_of_the_attempts_whoever_makes_it(
    client: TestClient, pipeline: Pipeline, database_url: str
) -> None:
    await put_quizzes(client, {"quiz_id": "q-1", "questions": [
        {"question_id": "k1", "correct_answer_ids": ["a"]}]})
    t = now_ms() - 60_000
    await post(client, [
        attempt("a-1", t, 0, user_id=u, responses=[{"question_id": "k1", "answer_ids": [ans]}])
        for u, ans in (("u-1", "a"), ("u-2", "b"), ("u-3", "a"))
    ])
    await pipeline.flush()
    conn = await asyncpg.connect(database_url)
    try:  # an erasure deletes a learner's rows with plain SQL
        await conn.execute("DELETE FROM quiz_attempts WHERE user_id = 'u-1'")
        await conn.execute("DELETE FROM quiz_summary WHERE user_id = 'u-1'")
    finally:
        await conn.close()
    s = await get(client, "/v1/courses/c-1/quizzes/q-1/stats")
    assert (s["attempts"], s["learners"], s["pass_rate"], s["mean_percent"]) == (2, 2, 0.5, 50)
    assert s["questions"][0]["percent_correct"] == 50.0
    view = await put_quizzes(client, {"quiz_id": "q-1", "questions": [  # a new key: regraded
        {"question_id": "k1", "correct_answer_ids": ["b"]}]})
    await recompute_course(pipeline.ctx, "c-1", view["version"])
    s = await get(client, "/v1/courses/c-1/quizzes/q-1/stats")
    assert (s["attempts"], s["pass_rate"], s["questions"][0]["percent_correct"]) == (2, 0.5, 50)
    got = (await get(client, "/v1/users/u-2/courses/c-1/quizzes/q-1/attempts"))["attempts"]
    assert (got[0]["percent"], got[0]["passed"]) == (100, True)
