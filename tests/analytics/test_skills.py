"""Skill mastery: the pure rule, and the read after the real pipeline against a reference model.

The reference values each tagged item straight from the distinct events (the merge reference
for chapters, the best attempt percent for quizzes), whatever the order, duplicates and
batching the events arrived in; a dropped course leaves the learner's skills.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import skill_rules as rules
from tests.analytics.support import send_in_any_order
from tests.helpers import auth, now_ms
from tests.integration.test_merge_property import reset_state
from tests.pipeline import Pipeline
from tests.reference import chapter_state, course_visible

BASE_TS = now_ms() - 86_400_000


@pytest.mark.parametrize(("pct", "level"), [
    (0, "novice"), (39.99, "novice"), (40, "developing"), (69.99, "developing"),
    (70, "proficient"), (89.99, "proficient"), (90, "mastered"), (100, "mastered"),
])
def test_levels_change_at_40_70_and_90(pct: float, level: str) -> None:
    assert rules.level(pct) == level


def test_mastery_is_the_mean_of_item_values_with_untouched_items_at_zero() -> None:
    items = [rules.TaggedItem("py", rules.chapter_value(True, 40)),
             rules.TaggedItem("py", rules.chapter_value(False, 50)),
             rules.TaggedItem("py", rules.quiz_value(None)),
             rules.TaggedItem("sql", rules.quiz_value(80))]
    assert rules.mastery(items) == {"py": (50.0, "developing", 3), "sql": (80.0, "proficient", 1)}


CATALOGS = {
    "c-1": {"title": "One", "modules": [{"module_id": "m", "chapters": [
        {"chapter_id": "ch-1", "skills": ["py"]},
        {"chapter_id": "ch-2", "skills": ["py", "sql"]},
        {"chapter_id": "ch-3"}]}],
        "quizzes": [{"quiz_id": "q-1", "skills": ["sql"]}]},
    "c-2": {"title": "Two", "modules": [{"module_id": "m", "chapters": [
        {"chapter_id": "ch-1", "skills": ["py"]}]}]},
}
TAGS = [("c-1", "chapter", "ch-1", ["py"]), ("c-1", "chapter", "ch-2", ["py", "sql"]),
        ("c-1", "quiz", "q-1", ["sql"]), ("c-2", "chapter", "ch-1", ["py"])]


def reference(events: list[dict[str, Any]], user: str) -> dict[str, tuple[float, str, int]]:
    distinct = list({e["id"]: e for e in events}.values())
    mine = [e for e in distinct if e["user_id"] == user]
    # a course whose only events are uncompletes is invisible: not counted
    courses = {e["course_id"] for e in mine if course_visible(mine, user, e["course_id"])}
    dropped = set()
    for course in courses:
        enrolls = sorted((e["ts"], e["id"], e["status"]) for e in mine
                         if e["type"] == "enrollment" and e["course_id"] == course)
        if enrolls and enrolls[-1][2] == "dropped":
            dropped.add(course)
    values: dict[str, list[float]] = {}
    for course, kind, item, skills in TAGS:
        if course not in courses or course in dropped:
            continue
        if kind == "chapter":
            ref = chapter_state(distinct, user, course, item)
            value = 1.0 if ref.completed else ref.progress / 100
        else:
            pcts = [100 * e["score"] / e["max_score"] for e in mine
                    if e["type"] == "quiz_attempt" and e["course_id"] == course]
            value = max(pcts, default=0.0) / 100
        for s in skills:
            values.setdefault(s, []).append(value)
    return {s: (round(100 * sum(v) / len(v), 2), rules.level(round(100 * sum(v) / len(v), 2)),
                len(v)) for s, v in sorted(values.items())}


@st.composite
def an_event(draw: st.DrawFn, i: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(["chapter_progress"] * 3 + ["chapter_completed",
                                 "chapter_uncompleted", "quiz_attempt", "enrollment"]))
    ev: dict[str, Any] = {"id": f"s-{i}", "type": kind, "user_id": draw(st.sampled_from(
        ["u-1", "u-2"])), "course_id": draw(st.sampled_from(["c-1", "c-2"])),
        "ts": BASE_TS + draw(st.integers(0, 3_600_000))}
    if kind.startswith("chapter_"):
        ev["chapter_id"] = draw(st.sampled_from(["ch-1", "ch-2", "ch-3"]))
    if kind == "chapter_progress":
        ev["progress"] = draw(st.sampled_from([0, 12.5, 50, 99]))
    if kind == "quiz_attempt":
        ev.update(quiz_id="q-1", attempt_id=f"a-{i}", score=draw(st.integers(0, 10)),
                  max_score=10)
    if kind == "enrollment":
        ev["status"] = draw(st.sampled_from(["enrolled", "dropped"]))
    return ev


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_skills_equal_the_reference_in_any_arrival_order(
    data: st.DataObject, client: TestClient, pipeline: Pipeline,
    redis_url: str, database_url: str,
) -> None:
    await reset_state(redis_url, database_url)
    for course, cat in CATALOGS.items():
        assert (await client.put(f"/v1/courses/{course}", json=cat, headers=auth())).status == 200
    events = [data.draw(an_event(i)) for i in range(data.draw(st.integers(1, 25)))]
    await send_in_any_order(data, client, pipeline, events, max_batch=6, resends=4)
    for user in ("u-1", "u-2"):
        resp = await client.get(f"/v1/users/{user}/skills", headers=auth())
        mine = [e for e in events if e["user_id"] == user]
        if not any(course_visible(mine, user, e["course_id"]) for e in mine):
            assert resp.status == 404  # nothing, or only uncompletes: no learner to speak of
            continue
        body = await resp.json()
        got = {s["skill_id"]: (s["mastery"], s["level"], s["items"]) for s in body["skills"]}
        assert got == reference(events, user)


async def test_a_catalog_rejects_a_malformed_skill_id(client: TestClient) -> None:
    bad = {"modules": [{"module_id": "m", "chapters": [
        {"chapter_id": "a", "skills": ["no space"]}]}]}
    resp = await client.put("/v1/courses/c-9", json=bad, headers=auth())
    assert resp.status == 400
    assert "skills" in (await resp.json())["error"]["message"]
