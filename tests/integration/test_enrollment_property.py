"""The enrollment lifecycle through the real pipeline equals the reference model, whatever the
order, duplicates, batch splits and flush moments: enrollment histories, drops and
re-enrollments, resets, and course records whose only facts are uncompletes.

Compared per example: the enrollment route of every (user, course), the user summary's course
figures, the course list with and without ``include=dropped``, and each course's stats
(learners, completed, in progress, dropped, per-chapter reach and completion).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import CATALOG, auth, now_ms
from tests.integration.test_merge_property import CATALOG_ROWS, reset_state, within_tail
from tests.pipeline import Pipeline
from tests.reference import RefCourse, course_state, enrollment_history, user_course_counts

USERS = ["u-1", "u-2"]
COURSES = ["c-1", "c-2"]
CHAPTERS = ["ch-1", "ch-2", "ch-3"]
BASE_TS = now_ms() - 3_600_000


@st.composite
def an_event(draw: st.DrawFn, n: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(
        ["chapter_progress", "chapter_completed"] * 2 + ["chapter_uncompleted"] * 4
        + ["enrollment"] * 4 + ["course_reset", "quiz_attempt", "course_viewed"]
    ))
    ev: dict[str, Any] = {
        "id": f"e{n:03d}", "type": kind, "user_id": draw(st.sampled_from(USERS)),
        "course_id": draw(st.sampled_from(COURSES)), "ts": BASE_TS + draw(st.integers(0, 20)) * 500,
    }
    if kind.startswith("chapter_"):
        ev["chapter_id"] = draw(st.sampled_from(CHAPTERS))
    if kind == "chapter_progress":
        ev["progress"] = draw(st.sampled_from([0, 40, 100]))
    if kind == "quiz_attempt":
        ev.update(quiz_id="q-1", attempt_id=f"a{n}", score=draw(st.sampled_from([3, 10])),
                  max_score=10, chapter_id=draw(st.sampled_from(CHAPTERS)))
    if kind == "enrollment":
        ev["status"] = draw(st.sampled_from(["enrolled", "paused", "dropped", "dropped"]))
    return ev


async def _get(client: TestClient, path: str) -> tuple[int, Any]:
    resp = await client.get(path, headers=auth())
    return resp.status, await resp.json()


def _iso_ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_enrollment_lifecycle_reads_equal_the_reference_model(
    data: st.DataObject, client: TestClient, pipeline: Pipeline,
    redis_url: str, database_url: str,
) -> None:
    await reset_state(redis_url, database_url)
    for course in COURSES:
        resp = await client.put(f"/v1/courses/{course}", json=CATALOG, headers=auth())
        assert resp.status == 200
    events = within_tail([data.draw(an_event(i)) for i in range(data.draw(st.integers(1, 30)))])
    stream = list(data.draw(st.permutations(events)))
    for ev in data.draw(st.lists(st.sampled_from(events), max_size=6)):
        stream.insert(data.draw(st.integers(0, len(stream))), ev)
    i = 0
    while i < len(stream):
        batch = stream[i:i + data.draw(st.integers(1, 6))]
        i += len(batch)
        resp = await client.post("/v1/events", json={"events": batch}, headers=auth())
        body = await resp.json()
        assert resp.status == 202 and body["rejected"] == [], body
        if data.draw(st.booleans()):
            await pipeline.flush()
    await pipeline.flush()

    model = {(u, c): course_state(events, u, c, CHAPTERS, CATALOG_ROWS)
             for u in USERS for c in COURSES}
    for (user, course), ref in model.items():
        await _assert_enrollment(client, events, user, course, ref)
    for user in USERS:
        await _assert_user(client, user, [model[(user, c)] for c in COURSES], model)
    for course in COURSES:
        await _assert_stats(client, course, [model[(u, course)] for u in USERS])


async def _assert_enrollment(client: TestClient, events: list[dict[str, Any]], user: str,
                             course: str, ref: RefCourse | None) -> None:
    status, body = await _get(client, f"/v1/users/{user}/courses/{course}/enrollment")
    progress_status, _ = await _get(client, f"/v1/users/{user}/courses/{course}")
    if ref is None or not ref.visible:
        assert (status, progress_status) == (404, 404), (user, course, body)
        return
    assert (status, progress_status) == (200, 200)
    history = [(h["status"], _iso_ms(h["ts"])) for h in body["history"]]
    assert history == enrollment_history(events, user, course), (user, course)
    assert body["status"] == ref.enrollment_status


async def _assert_user(client: TestClient, user: str, courses: list[RefCourse | None],
                       model: dict[tuple[str, str], RefCourse | None]) -> None:
    known = [c for c in courses if c is not None]
    status, summary = await _get(client, f"/v1/users/{user}/summary")
    if not any(c.visible for c in known):
        assert status == 404, summary
    else:
        want = user_course_counts(known)
        assert status == 200 and {k: summary[k] for k in want} == want, (user, summary)
    listed = {}
    for query in ("", "?include=dropped"):
        status, page = await _get(client, f"/v1/users/{user}/courses{query}")
        assert status == 200
        listed[query] = {(c["course_id"], c["enrollment_status"]) for c in page["items"]}
    shown = {(c, ref.enrollment_status) for (u, c), ref in model.items()
             if u == user and ref is not None and ref.visible}
    assert listed["?include=dropped"] == shown
    assert listed[""] == {(c, s) for c, s in shown if s != "dropped"}


async def _assert_stats(client: TestClient, course: str, learners: list[RefCourse | None]) -> None:
    status, stats = await _get(client, f"/v1/courses/{course}/stats")
    assert status == 200
    active = [r for r in learners if r is not None and r.active]
    dropped = [r for r in learners if r is not None and r.visible and not r.active]
    got = {k: stats[k] for k in ("learners", "completed", "in_progress", "dropped")}
    assert got == {"learners": len(active), "dropped": len(dropped),
                   "completed": sum(r.status == "completed" for r in active),
                   "in_progress": sum(r.status == "in_progress" for r in active)}, course
    for ch in stats["chapters"]:
        refs = [r.chapters.get(ch["chapter_id"]) for r in active]
        assert ch["reached"] == sum(c is not None and c.first_ts is not None for c in refs)
        assert ch["completed"] == sum(c is not None and c.completed for c in refs)
