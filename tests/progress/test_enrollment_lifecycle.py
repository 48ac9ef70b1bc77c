"""The enrollment lifecycle through the pipeline: history, drops, and uncompletes of nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp.test_utils import TestClient

from tests.helpers import auth, event, now_ms
from tests.integration.test_pipeline import post, put_catalog
from tests.pipeline import Pipeline
from tests.progress.support import get


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _enrol(status: str, ts: int, **kw: object) -> dict[str, object]:
    return event("enrollment", status=status, ts=ts, **kw)


async def test_every_enrollment_is_kept_in_event_time_order_and_a_late_one_takes_its_place(
    client: TestClient, pipeline: Pipeline
) -> None:
    t = now_ms() - 600_000
    await post(client, [_enrol("enrolled", t), _enrol("dropped", t + 2000)])
    await pipeline.flush()
    late = _enrol("paused", t + 1000)
    await post(client, [late])
    await pipeline.flush()
    await post(client, [late])  # a duplicate changes nothing
    await pipeline.flush()
    body = await get(client, "/v1/users/u-1/courses/c-1/enrollment")
    statuses = [(h["status"], h["ts"]) for h in body["history"]]
    assert statuses == [("enrolled", _iso(t)), ("paused", _iso(t + 1000)),
                        ("dropped", _iso(t + 2000))]
    assert body["status"] == "dropped"
    assert (body["user_id"], body["course_id"]) == ("u-1", "c-1")


async def test_ties_in_event_time_are_ordered_by_event_id(
    client: TestClient, pipeline: Pipeline
) -> None:
    t = now_ms() - 600_000
    await post(client, [_enrol("dropped", t, id="e-b"), _enrol("enrolled", t, id="e-a")])
    await pipeline.flush()
    body = await get(client, "/v1/users/u-1/courses/c-1/enrollment")
    assert [h["status"] for h in body["history"]] == ["enrolled", "dropped"]
    assert body["status"] == "dropped"


async def test_a_course_without_enrollments_has_an_empty_history_and_unknown_ones_a_404(
    client: TestClient, pipeline: Pipeline
) -> None:
    await post(client, [event("course_viewed")])
    await pipeline.flush()
    assert await get(client, "/v1/users/u-1/courses/c-1/enrollment") == {
        "user_id": "u-1", "course_id": "c-1", "status": None, "history": []}
    body = await get(client, "/v1/users/u-1/courses/nope/enrollment", status=404)
    assert body["error"]["code"] == "not_found"


async def test_a_dropped_course_leaves_the_summary_list_and_stats_until_re_enrolled(
    client: TestClient, pipeline: Pipeline
) -> None:
    await put_catalog(client)
    t = now_ms() - 600_000
    await post(client, [
        event("chapter_completed", chapter_id="ch-1", ts=t),
        event("chapter_completed", user_id="u-2", chapter_id="ch-2", ts=t),
        _enrol("dropped", t + 1000),
    ])
    await pipeline.flush()
    summary = await get(client, "/v1/users/u-1/summary")
    assert (summary["courses_total"], summary["courses_in_progress"]) == (0, 0)
    assert summary["chapters_completed"] == 1  # chapters, time and streaks keep dropped courses
    assert (await get(client, "/v1/users/u-1/courses"))["items"] == []
    listed = await get(client, "/v1/users/u-1/courses?include=dropped")
    assert [(c["course_id"], c["enrollment_status"]) for c in listed["items"]] == [
        ("c-1", "dropped")]
    stats = await get(client, "/v1/courses/c-1/stats")
    assert (stats["learners"], stats["dropped"], stats["in_progress"]) == (1, 1, 1)
    reach = {c["chapter_id"]: c["reached"] for c in stats["chapters"]}
    assert (reach["ch-1"], reach["ch-2"]) == (0, 1)

    await post(client, [_enrol("enrolled", t + 2000)])
    await pipeline.flush()
    summary = await get(client, "/v1/users/u-1/summary")
    assert (summary["courses_total"], summary["courses_in_progress"]) == (1, 1)
    stats = await get(client, "/v1/courses/c-1/stats")
    assert (stats["learners"], stats["dropped"]) == (2, 0)


async def test_a_bad_include_gets_a_clear_error(client: TestClient) -> None:
    body = await get(client, "/v1/users/u-1/courses?include=all", status=400)
    assert body["error"]["code"] == "invalid_query"


async def test_an_uncomplete_of_nothing_is_invisible_until_a_completion_arrives(
    client: TestClient, pipeline: Pipeline
) -> None:
    await put_catalog(client)
    t = now_ms() - 600_000
    await post(client, [event("chapter_uncompleted", chapter_id="ch-1", ts=t + 1000),
                        event("chapter_completed", user_id="u-2", chapter_id="ch-1", ts=t)])
    await pipeline.flush()
    for path in ("/v1/users/u-1/courses/c-1", "/v1/users/u-1/courses/c-1/enrollment",
                 "/v1/users/u-1/summary"):
        await get(client, path, status=404)
    assert (await get(client, "/v1/users/u-1/courses?include=dropped"))["items"] == []
    got = await client.post("/v1/users/u-1/courses:batchGet", json={"course_ids": ["c-1"]},
                            headers=auth())
    assert (await got.json())["not_found"] == ["c-1"]
    stats = await get(client, "/v1/courses/c-1/stats")
    assert (stats["learners"], stats["dropped"], stats["chapters"][0]["reached"]) == (1, 0, 1)

    # a completion with an earlier ts arrives: the course appears, still uncompleted
    await post(client, [event("chapter_completed", chapter_id="ch-1", ts=t)])
    await pipeline.flush()
    view = await get(client, "/v1/users/u-1/courses/c-1")
    assert (view["status"], view["completed_chapters"]) == ("in_progress", 0)
    assert (await get(client, "/v1/users/u-1/summary"))["courses_total"] == 1
    assert (await get(client, "/v1/courses/c-1/stats"))["learners"] == 2


async def test_quiz_pass_rates_of_a_course_leave_out_learners_who_dropped_it(
    client: TestClient, pipeline: Pipeline
) -> None:
    await put_catalog(client)
    t = now_ms() - 600_000
    quiz = {"quiz_id": "q-1", "max_score": 10}
    await post(client, [
        event("quiz_attempt", attempt_id="a-1", score=9, ts=t, **quiz),
        event("quiz_attempt", user_id="u-2", attempt_id="a-2", score=2, ts=t, **quiz),
        _enrol("dropped", t + 1000),
    ])
    await pipeline.flush()
    stats = await get(client, "/v1/courses/c-1/stats")
    assert stats["quizzes"] == [{"quiz_id": "q-1", "learners": 1, "passed": 0, "pass_rate": 0.0}]
    await post(client, [_enrol("enrolled", t + 2000)])
    await pipeline.flush()
    stats = await get(client, "/v1/courses/c-1/stats")
    assert stats["quizzes"] == [{"quiz_id": "q-1", "learners": 2, "passed": 1, "pass_rate": 0.5}]


async def test_the_history_is_in_the_learners_export_and_erasure_removes_it(
    client: TestClient, pipeline: Pipeline
) -> None:
    t = now_ms() - 600_000
    await post(client, [_enrol("enrolled", t, id="e-1"), _enrol("dropped", t + 1000, id="e-2")])
    await pipeline.flush()
    export = await get(client, "/v1/users/u-1/export")
    assert [(e["event_id"], e["status"]) for e in export["sections"]["enrollments"]] == [
        ("e-1", "enrolled"), ("e-2", "dropped")]
    erased = await client.delete("/v1/users/u-1", headers=auth())
    assert erased.status == 200, await erased.text()
    await get(client, "/v1/users/u-1/courses/c-1/enrollment", status=404)
    await get(client, "/v1/users/u-1/export", status=404)  # nothing of the learner is left
