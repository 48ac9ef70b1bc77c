"""Random catalogs with requirements, prerequisites and sequential modules, random event orders,
duplicates and batch splits, and a catalog change while events flow: every chapter, the course
percent and every module's and chapter's availability equal the reference over the final catalog.
Views naming chapters (which complete ``view`` chapters), drops and re-enrollments, and a second
course whose records may hold only uncompletes: the learner's progress on a path of both courses
equals the reference too.
"""

from __future__ import annotations

import os
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import auth, now_ms
from tests.integration.test_merge_property import reset_state, within_tail
from tests.pipeline import Pipeline
from tests.reference import (
    RefChapter,
    RefCourse,
    chapter_state,
    course_percent,
    course_state,
    course_visible,
    enrollment_history,
    path_state,
)
from workers.main import recompute_course

USERS = ["u-1", "u-2"]
MODULES = {"m1": ["ch-1", "ch-2"], "m2": ["ch-3", "ch-4"], "m3": ["ch-5", "ch-6"]}
CHAPTERS = [c for chs in MODULES.values() for c in chs]
BASE_TS = now_ms() - 3_600_000
EXAMPLES = int(os.environ.get("WAYMARK_PATHS_EXAMPLES", "12"))
REQUIREMENTS: list[Any] = [None, None, "view", {"min_time_s": 20},
                           {"min_score": 80, "quiz_id": "q-1"}]


@st.composite
def a_catalog(draw: st.DrawFn) -> dict[str, Any]:
    modules = []
    for i, (mid, chapters) in enumerate(MODULES.items()):
        earlier = list(MODULES)[:i]
        modules.append({
            "module_id": mid,
            "sequential": draw(st.booleans()),
            "prerequisites": draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier
            else [],
            "chapters": [{"chapter_id": c, "required": draw(st.sampled_from([True] * 3 + [False])),
                          "requirement": draw(st.sampled_from(REQUIREMENTS))}
                         for c in chapters],
        })
    return {"completion_threshold": draw(st.sampled_from([100, 50])), "modules": modules,
            "quizzes": [{"quiz_id": "q-1", "chapter_id": "ch-6"}]}


@st.composite
def an_event(draw: st.DrawFn, n: int) -> dict[str, Any]:
    second = draw(st.integers(0, 5)) == 0
    kind = draw(st.sampled_from(
        ["chapter_completed", "chapter_uncompleted", "chapter_uncompleted", "enrollment"] if second
        else ["chapter_progress"] * 5 + ["chapter_completed"] * 2 + ["course_viewed"] * 2
        + ["chapter_uncompleted", "quiz_attempt", "course_reset", "enrollment"]))
    ev: dict[str, Any] = {"id": f"e{n:03d}", "type": kind, "user_id": draw(st.sampled_from(USERS)),
                          "course_id": "c-2" if second else "c-1",
                          "ts": BASE_TS + draw(st.integers(0, 40)) * 500}
    if kind.startswith("chapter_") or (kind == "course_viewed" and draw(st.integers(0, 3))):
        ev["chapter_id"] = "ch-a" if second else draw(st.sampled_from(CHAPTERS))
    if kind == "enrollment":
        ev["status"] = draw(st.sampled_from(["enrolled", "dropped", "dropped"]))
    if kind == "chapter_progress":
        ev["progress"] = draw(st.sampled_from([0, 30, 60, 100]))
    if kind in ("chapter_progress", "chapter_completed") and draw(st.booleans()):
        ev["time_spent_s"] = draw(st.sampled_from([5, 10, 15]))
    if kind == "quiz_attempt":
        ev.update(quiz_id="q-1", attempt_id=f"a{n}", score=draw(st.sampled_from([5, 8, 10])),
                  max_score=10, chapter_id="ch-6")
    return ev


SECOND = {"modules": [{"module_id": "m", "chapters": [{"chapter_id": "ch-a"}]}]}


def rule_of(chapter: dict[str, Any]) -> tuple[Any, ...] | None:
    req = chapter.get("requirement")
    if req is None or req == "complete":
        return None
    if req == "view":
        return ("view", 0)
    if "min_time_s" in req:
        return ("min_time_s", req["min_time_s"])
    return ("min_score", req["min_score"], req["quiz_id"])


def ref_availability(catalog: dict[str, Any], refs: dict[str, RefChapter]
                     ) -> dict[str, tuple[str, str | None]]:
    """Module and chapter states written from the rules' words, for one learner."""
    def done(m: dict[str, Any]) -> bool:
        return all(refs[c["chapter_id"]].completed for c in m["chapters"] if c["required"])
    by_id = {m["module_id"]: m for m in catalog["modules"]}
    out: dict[str, tuple[str, str | None]] = {}
    for m in catalog["modules"]:
        prereq = not all(done(by_id[p]) for p in m["prerequisites"])
        started = any(refs[c["chapter_id"]].first_ts is not None or refs[c["chapter_id"]].completed
                      for c in m["chapters"])
        out[m["module_id"]] = (("completed", None) if done(m) else
                               ("locked", "prerequisite") if prereq else
                               ("in_progress", None) if started else ("available", None))
        for i, c in enumerate(m["chapters"]):
            r = refs[c["chapter_id"]]
            before = [x for x in m["chapters"][:i] if x["required"]]
            seq = m["sequential"] and any(not refs[x["chapter_id"]].completed for x in before)
            out[c["chapter_id"]] = (
                ("completed", None) if r.completed else ("locked", "prerequisite") if prereq
                else ("locked", "sequential") if seq
                else ("in_progress", None) if r.first_ts is not None else ("available", None))
    return out


async def send(client: TestClient, batch: list[dict[str, Any]]) -> None:
    resp = await client.post("/v1/events", json={"events": batch}, headers=auth())
    body = await resp.json()
    assert resp.status == 202 and body["rejected"] == [], body


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_random_catalogs_and_histories_give_the_reference_state_and_availability(
    data: st.DataObject, client: TestClient, pipeline: Pipeline,
    redis_url: str, database_url: str,
) -> None:
    await reset_state(redis_url, database_url)
    first, final = data.draw(a_catalog()), data.draw(a_catalog())
    assert (await client.put("/v1/courses/c-2", json=SECOND, headers=auth())).status == 200
    path = {"sequential": data.draw(st.booleans()),
            "courses": [{"course_id": "c-1", "required": data.draw(st.booleans())},
                        {"course_id": "c-2", "required": data.draw(st.booleans())}]}
    changes = data.draw(st.booleans())
    assert (await client.put("/v1/courses/c-1", json=first if changes else final,
                             headers=auth())).status == 200
    assert (await client.put("/v1/paths/p-1", json=path, headers=auth())).status == 200
    events = within_tail([data.draw(an_event(i)) for i in range(data.draw(st.integers(1, 30)))])
    stream = list(data.draw(st.permutations(events)))
    for ev in data.draw(st.lists(st.sampled_from(events), max_size=6)):
        stream.insert(data.draw(st.integers(0, len(stream))), ev)
    change_at = data.draw(st.integers(0, len(stream))) if changes else -1
    i = 0
    while i <= len(stream):
        if i >= change_at >= 0:  # the catalog changes while events flow; its recompute follows
            assert (await client.put("/v1/courses/c-1", json=final, headers=auth())).status == 200
            if data.draw(st.booleans()):
                await pipeline.flush()
            await recompute_course(pipeline.ctx, "c-1", 2)
            change_at = -1
        if i == len(stream):
            break
        batch = stream[i:i + data.draw(st.integers(1, 6))]
        i += len(batch)
        await send(client, batch)
        if data.draw(st.booleans()):
            await pipeline.flush()
    await pipeline.flush()
    await assert_reference(events, final, client, database_url, path)


async def assert_reference(events: list[dict[str, Any]], catalog: dict[str, Any],
                           client: TestClient, database_url: str, path: dict[str, Any]) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        rows = {(r["user_id"], r["chapter_id"]): r for r in await conn.fetch(
            "SELECT *, (extract(epoch FROM completed_at) * 1000)::bigint AS c_ms,"
            " (extract(epoch FROM first_activity_at) * 1000)::bigint AS f_ms"
            " FROM chapter_progress")}
    finally:
        await conn.close()
    chapters = {c["chapter_id"]: c for m in catalog["modules"] for c in m["chapters"]}
    weights = [(c, 1.0, chapters[c]["required"]) for c in CHAPTERS]
    for user in USERS:
        refs = {c: chapter_state(events, user, "c-1", c, threshold=catalog["completion_threshold"],
                                 requirement=rule_of(chapters[c])) for c in CHAPTERS}
        await assert_path(events, user, refs, weights, path, client)
        for c, ref in refs.items():
            row = rows.get((user, c))
            got = ((row["progress"], row["completed"], row["c_ms"], row["time_spent_ms"],
                    row["f_ms"]) if row is not None else (0.0, False, None, 0, None))
            assert got == (ref.progress, ref.completed, ref.completed_at, ref.time_ms,
                           ref.first_ts), (user, c, chapters[c])
        resp = await client.get(f"/v1/users/{user}/courses/c-1", headers=auth())
        if resp.status == 404:
            continue
        view = await resp.json()
        assert view["percent_complete"] == course_percent(refs, weights), user
        states = {m["module_id"]: (m["state"], m["locked_reason"]) for m in view["modules"]}
        states |= {c["chapter_id"]: (c["state"], c["locked_reason"])
                   for m in view["modules"] for c in m["chapters"]}
        want = ref_availability(catalog, refs)
        assert states == want, user
        open_ = [c for c in CHAPTERS if chapters[c]["required"]
                 and want[c][0] in ("available", "in_progress")]
        assert view["next_chapter"] == (open_[0] if open_ else None), user


async def assert_path(events: list[dict[str, Any]], user: str, refs: dict[str, RefChapter],
                      weights: list[tuple[str, float, bool]], path: dict[str, Any],
                      client: TestClient) -> None:
    """The learner's progress on the path equals the reference (404 when not on it)."""
    percent = course_percent(refs, weights)
    history = enrollment_history(events, user, "c-1")
    first = RefCourse(
        visible=course_visible(events, user, "c-1"),
        enrollment_status=history[-1][0] if history else None, percent=percent,
        status="completed" if percent == 100 else "in_progress"
        if any(r.first_ts is not None for r in refs.values()) else "not_started",
        chapters=refs,
    ) if any((e["user_id"], e["course_id"]) == (user, "c-1") for e in events) else None
    records = {"c-1": first,
               "c-2": course_state(events, user, "c-2", ["ch-a"], [("ch-a", 1.0, True)])}
    want = path_state([(c["course_id"], c["required"]) for c in path["courses"]],
                      path["sequential"], records)
    resp = await client.get(f"/v1/users/{user}/paths/p-1", headers=auth())
    listed = await (await client.get(f"/v1/users/{user}/paths", headers=auth())).json()
    assert [p["path_id"] for p in listed["paths"]] == ([] if want is None else ["p-1"]), user
    if want is None:
        assert resp.status == 404, (user, await resp.text())
        return
    got = await resp.json()
    assert {"percent_complete": got["percent_complete"], "status": got["status"],
            "current_course_id": got["current_course_id"],
            "states": [c["state"] for c in got["courses"]]} == want, (user, records)
