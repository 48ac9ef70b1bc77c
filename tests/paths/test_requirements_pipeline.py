"""Completion by requirement through the real pipeline, and re-decided by a catalog change."""

from __future__ import annotations

import copy
from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import auth, event, now_ms
from tests.integration.test_pipeline import chapter, post, progress
from tests.pipeline import Pipeline
from workers.main import recompute_course

CATALOG: dict[str, Any] = {"modules": [{"module_id": "m1", "chapters": [
    {"chapter_id": "ch-1"},
    {"chapter_id": "ch-2", "requirement": "view"},
    {"chapter_id": "ch-3", "requirement": {"min_time_s": 60}},
]}]}


async def test_each_chapter_is_completed_by_its_own_requirement(
    client: TestClient, pipeline: Pipeline
) -> None:
    assert (await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())).status == 200
    t = now_ms() - 60_000
    await post(client, [
        event("chapter_progress", chapter_id="ch-1", progress=85, ts=t),
        event("chapter_progress", chapter_id="ch-2", progress=5, ts=t + 1),
        event("chapter_progress", chapter_id="ch-3", progress=5, time_spent_s=40, ts=t + 2),
    ])
    await pipeline.flush()
    await post(client, [event("chapter_progress", chapter_id="ch-3", progress=9,
                              time_spent_s=30, ts=t + 3)])
    await pipeline.flush()
    view = await progress(client)
    assert [chapter(view, c)["completed"] for c in ("ch-1", "ch-2", "ch-3")] == [
        False, True, True]
    assert chapter(view, "ch-3")["completed_at"] == chapter(view, "ch-3")["last_activity_at"]
    assert view["percent_complete"] == 66.67

    lowered = copy.deepcopy(CATALOG)
    lowered["completion_threshold"] = 80
    lowered["modules"][0]["chapters"][2]["requirement"] = {"min_time_s": 100}
    assert (await client.put("/v1/courses/c-1", json=lowered, headers=auth())).status == 200
    await recompute_course(pipeline.ctx, "c-1", 2)
    view = await progress(client)
    assert [chapter(view, c)["completed"] for c in ("ch-1", "ch-2", "ch-3")] == [
        True, True, False]


async def test_a_bad_requirement_or_prerequisite_is_refused_naming_the_field(
    client: TestClient,
) -> None:
    def with_(**fields: Any) -> dict[str, Any]:
        doc = copy.deepcopy(CATALOG)
        doc["modules"][0].update(fields)
        return doc
    cyclic = copy.deepcopy(CATALOG)
    cyclic["modules"] += [{"module_id": "m2", "prerequisites": ["m3"], "chapters": []},
                          {"module_id": "m3", "prerequisites": ["m2"], "chapters": []}]
    kind = copy.deepcopy(CATALOG)
    kind["modules"][0]["chapters"][0]["requirement"] = "watch"
    score = copy.deepcopy(CATALOG)
    score["modules"][0]["chapters"][0]["requirement"] = {"min_score": 80, "quiz_id": "q-9"}
    cases = [(with_(prerequisites=["nope"]), "unknown id 'nope'"),
             (with_(prerequisites=["m1"]), "lists itself"), (cyclic, "cycle"),
             (with_(unlock_at="next week"), "unlock_at"), (kind, "unknown kind"),
             (score, "not a quiz"), (dict(CATALOG, prerequisites=["c-1"]), "itself"),
             (dict(CATALOG, prerequisites=["c-none"]), "unknown course")]
    for doc, words in cases:
        resp = await client.put("/v1/courses/c-1", json=doc, headers=auth())
        body = await resp.json()
        assert resp.status == 400, doc
        assert body["error"]["code"] == "invalid_catalog"
        assert words in body["error"]["message"]
    assert (await client.get("/v1/courses/c-1", headers=auth())).status == 404
    assert (await client.put("/v1/courses/c-2", json=CATALOG, headers=auth())).status == 200
    ok = dict(CATALOG, prerequisites=["c-2"])
    assert (await client.put("/v1/courses/c-1", json=ok, headers=auth())).status == 200
    back = dict(CATALOG, prerequisites=["c-1"])
    resp = await client.put("/v1/courses/c-2", json=back, headers=auth())
    assert resp.status == 400 and "cycle" in (await resp.json())["error"]["message"]


async def test_min_score_is_completed_by_the_earliest_counted_attempt_reaching_it(
    client: TestClient, pipeline: Pipeline
) -> None:
    doc = {"quizzes": [{"quiz_id": "q-1", "chapter_id": "ch-1"}], "modules": [
        {"module_id": "m1", "chapters": [
            {"chapter_id": "ch-1"},
            {"chapter_id": "ch-2", "requirement": {"min_score": 85, "quiz_id": "q-1"}}]}]}
    assert (await client.put("/v1/courses/c-1", json=doc, headers=auth())).status == 200
    t = now_ms() - 60_000
    attempt = {"quiz_id": "q-1", "max_score": 10}
    await post(client, [event("quiz_attempt", attempt_id="a-2", score=9, ts=t + 2, **attempt),
                        event("chapter_completed", chapter_id="ch-2", ts=t + 3)])
    await pipeline.flush()
    view = await progress(client)
    assert chapter(view, "ch-2")["completed"] is True
    first = chapter(view, "ch-2")["completed_at"]
    await post(client, [event("quiz_attempt", attempt_id="a-1", score=7, ts=t, **attempt),
                        event("quiz_attempt", attempt_id="a-0", score=10, ts=t + 1, **attempt)])
    await pipeline.flush()  # a late attempt that reaches 85 % moves completed_at earlier
    view = await progress(client)
    assert chapter(view, "ch-1")["completed_at"] < chapter(view, "ch-2")["completed_at"] < first
