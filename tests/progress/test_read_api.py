"""Every read endpoint: content, pagination edges, unknown ids, bad queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestClient

from tests.helpers import CATALOG, auth, event, now_ms
from tests.integration.test_pipeline import post, put_catalog
from tests.pipeline import Pipeline
from tests.progress.support import get
from waymark_client.wire import ID_PATTERN

DAY_MS = 86_400_000


async def _enrol_in(client: TestClient, pipeline: Pipeline, courses: list[str]) -> None:
    t = now_ms() - 60_000
    for i, course in enumerate(courses):
        await post(client, [event("course_viewed", course_id=course, ts=t + i)])
    await pipeline.flush()


async def test_the_course_list_pages_most_recent_first_without_gaps_or_repeats(
    client: TestClient, pipeline: Pipeline
) -> None:
    courses = [f"c-{i}" for i in range(7)]
    await _enrol_in(client, pipeline, courses)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
        page = await get(client, "/v1/users/u-1/courses", params=params)
        seen += [c["course_id"] for c in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(courses))
    assert pages == 3
    exact = await get(client, "/v1/users/u-1/courses", params={"limit": "7"})
    assert exact["next_cursor"] is None and len(exact["items"]) == 7
    empty = await get(client, "/v1/users/nobody/courses")
    assert empty == {"user_id": "nobody", "items": [], "next_cursor": None}


async def test_the_course_list_filters_by_status(client: TestClient, pipeline: Pipeline) -> None:
    await put_catalog(client)
    await post(client, [event("chapter_completed", chapter_id=c) for c in ("ch-1", "ch-2", "ch-3")]
               + [event("course_viewed", course_id="c-2")])
    await pipeline.flush()
    done = await get(client, "/v1/users/u-1/courses", params={"status": "completed"})
    assert [c["course_id"] for c in done["items"]] == ["c-1"]
    assert done["items"][0]["percent_complete"] == 100.0
    fresh = await get(client, "/v1/users/u-1/courses", params={"status": "not_started"})
    assert [c["course_id"] for c in fresh["items"]] == ["c-2"]


async def test_bad_list_queries_get_a_clear_error(client: TestClient) -> None:
    for params in ({"limit": "0"}, {"limit": "x"}, {"status": "bogus"}, {"cursor": "!!"}):
        body = await get(client, "/v1/users/u-1/courses", status=400, params=params)
        assert body["error"]["code"] == "invalid_query"


async def test_batch_get_answers_in_the_order_asked_and_names_the_missing(
    client: TestClient, pipeline: Pipeline
) -> None:
    await _enrol_in(client, pipeline, ["c-1", "c-2", "c-3"])
    resp = await client.post("/v1/users/u-1/courses:batchGet", headers=auth(),
                             json={"course_ids": ["c-3", "nope", "c-1", "c-3"]})
    assert resp.status == 200
    body = await resp.json()
    assert [c["course_id"] for c in body["items"]] == ["c-3", "c-1"]
    assert body["not_found"] == ["nope"]
    bad = await client.post("/v1/users/u-1/courses:batchGet", headers=auth(), json={"ids": []})
    assert bad.status == 400
    for ids in (["c-1", "nul\u0000"], [""], ["c-1"] * 501):  # found by schemathesis (NUL → 500)
        bad = await client.post("/v1/users/u-1/courses:batchGet", headers=auth(),
                                json={"course_ids": ids})
        assert bad.status == 400, ids
        assert (await bad.json())["error"]["code"] == "invalid_batch"


async def test_the_summary_counts_courses_chapters_time_and_streaks(
    client: TestClient, pipeline: Pipeline
) -> None:
    await put_catalog(client)
    t = now_ms() - 60_000
    await post(client, [
        event("chapter_progress", chapter_id="ch-1", progress=50, time_spent_s=30,
              ts=t - 3 * DAY_MS),
        event("chapter_progress", chapter_id="ch-1", progress=60, time_spent_s=30, ts=t - DAY_MS),
        event("chapter_completed", chapter_id="ch-2", time_spent_s=60, ts=t),
        event("chapter_completed", course_id="c-2", chapter_id="x", ts=t),
    ])
    await pipeline.flush()
    s = await get(client, "/v1/users/u-1/summary")
    assert s["courses_total"] == 2 and s["courses_in_progress"] == 2
    assert s["chapters_completed"] == 2
    assert s["time_spent_s"] == 120
    assert s["current_streak_days"] == 2 and s["longest_streak_days"] == 2
    assert s["avg_progress"] == 25.0  # c-1 at 25 %, c-2 has no catalog
    body = await get(client, "/v1/users/nobody/summary", status=404)
    assert body["error"]["code"] == "user_not_found"


async def test_daily_activity_gives_time_and_events_per_day(
    client: TestClient, pipeline: Pipeline
) -> None:
    t = now_ms() - 60_000
    await post(client, [
        event("chapter_progress", chapter_id="ch-1", progress=10, time_spent_s=10, ts=t - DAY_MS),
        event("chapter_progress", chapter_id="ch-1", progress=20, time_spent_s=15, ts=t),
        event("chapter_progress", chapter_id="ch-2", progress=20, time_spent_s=5, ts=t),
    ])
    await pipeline.flush()
    body = await get(client, "/v1/users/u-1/activity")
    days = {d["day"]: (d["time_spent_s"], d["events"]) for d in body["days"]}
    today = datetime.fromtimestamp(t / 1000, UTC).date()
    assert days[today.isoformat()] == (20, 2)
    assert days[(today - timedelta(days=1)).isoformat()] == (10, 1)
    one = await get(client, "/v1/users/u-1/activity",
                    params={"from": today.isoformat(), "to": today.isoformat()})
    assert len(one["days"]) == 1
    bad = await get(client, "/v1/users/u-1/activity", status=400, params={"from": "2026-13-01"})
    assert bad["error"]["code"] == "invalid_query"


async def test_course_stats_show_where_learners_drop_off(
    client: TestClient, pipeline: Pipeline
) -> None:
    await put_catalog(client)
    await post(client, [
        event("chapter_completed", user_id="u-1", chapter_id="ch-1"),
        event("chapter_completed", user_id="u-1", chapter_id="ch-2"),
        event("chapter_progress", user_id="u-2", chapter_id="ch-1", progress=40),
    ])
    await pipeline.flush()
    stats = await get(client, "/v1/courses/c-1/stats")
    assert stats["learners"] == 2 and stats["completed"] == 0
    assert stats["avg_progress"] == 25.0  # 50 % and 0 %
    by_id = {c["chapter_id"]: c for c in stats["chapters"]}
    assert (by_id["ch-1"]["reached"], by_id["ch-1"]["completed"]) == (2, 1)
    assert (by_id["ch-2"]["reached"], by_id["ch-3"]["reached"]) == (1, 0)
    assert by_id["ch-1"]["reach_rate"] == 1.0 and by_id["ch-2"]["completion_rate"] == 0.5
    body = await get(client, "/v1/courses/nope/stats", status=404)
    assert body["error"]["code"] == "course_not_found"


async def test_unknown_progress_is_a_404_with_a_code(client: TestClient) -> None:
    body = await get(client, "/v1/users/u-1/courses/nope", status=404)
    assert body["error"]["code"] == "not_found"


async def test_a_quiz_attempt_replayed_is_stored_and_summarised_once(
    client: TestClient, pipeline: Pipeline
) -> None:
    await put_catalog(client)
    t = now_ms() - 60_000
    quiz = {"quiz_id": "q-1", "chapter_id": "ch-2", "score": 6, "max_score": 10}
    await post(client, [event("quiz_attempt", attempt_id="a-1", ts=t, **quiz)])
    await pipeline.flush()
    await post(client, [event("quiz_attempt", attempt_id="a-1", ts=t, **quiz),  # replay
                        event("quiz_attempt", attempt_id="a-2", ts=t + 1, **quiz | {"score": 8})])
    await pipeline.flush()
    view = await get(client, "/v1/users/u-1/courses/c-1")
    at = view["quizzes"][0]["last_attempt_at"]
    assert view["quizzes"] == [{
        "quiz_id": "q-1", "attempts": 2, "attempts_counted": 2, "attempts_total": 2,
        "best_score": 8.0, "best_percent": 80.0, "last_score": 8.0, "last_percent": 80.0,
        "average_percent": 70.0, "kept_score": 8.0, "kept_percent": 80.0, "passed": True,
        "passed_at": at, "last_attempt_at": at, "attempts_left": None, "next_attempt_at": None,
    }]
    assert view["completed_chapters"] == 1  # the passing attempt completed ch-2


PUBLIC = {("get", "/health"), ("get", "/ready"), ("get", "/metrics"), ("get", "/openapi.json"),
          ("get", "/static/{name}")}
"""The only routes the document leaves out: they take no credentials (static: the report's
vendored scripts)."""


async def test_openapi_describes_every_route_the_server_serves(client: TestClient) -> None:
    doc = await get(client, "/openapi.json")
    served = {(route.method.lower(), route.resource.canonical)
              for route in client.server.app.router.routes()
              if route.method != "HEAD" and route.resource is not None}
    documented = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert served - PUBLIC == documented
    assert served >= PUBLIC
    for method, path in PUBLIC:  # really public: they answer without a credential
        assert (await client.request(method, path.format(name="chart.umd.min.js"))).status in (
            200, 503)


async def test_openapi_schemas_are_the_server_types(client: TestClient) -> None:
    doc = await get(client, "/openapi.json")
    schemas = doc["components"]["schemas"]
    names = {"CourseProgressView", "CoursePage", "UserSummaryView", "CourseStatsView"}
    assert names <= set(schemas)
    assert schemas["CourseCatalog"]["additionalProperties"] is False
    params = doc["paths"]["/v1/users/{user_id}/courses"]["get"]["parameters"]
    assert params[0]["schema"]["pattern"] == ID_PATTERN  # the rule the server checks
    assert {p["name"]: p["schema"].get("maximum") for p in params}["limit"] == 200
    # Events are validated one by one (rejected by index in a 202), so items are left open.
    events = schemas["Batch"]["properties"]["events"]
    assert "$ref" not in events["items"] and "Event" in schemas
    put = doc["paths"]["/v1/courses/{course_id}"]["put"]
    assert put["security"] == [{"bearer": ["admin"]}]
    assert set(CATALOG) <= set(schemas["CourseCatalog"]["properties"])
    resp = await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())
    assert resp.status == 200
    assert set(await resp.json()) == set(schemas["CatalogView"]["properties"])


async def test_a_catalog_with_a_nul_character_is_refused_not_failed(client: TestClient) -> None:
    doc = {"title": "bad\u0000title", "modules": []}
    resp = await client.put("/v1/courses/c-nul", json=doc, headers=auth())
    assert resp.status == 400
