"""A learner's export holds what the read API serves, field for field; a course exports as CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import CATALOG, auth, event
from tests.pipeline import Pipeline
from tests.privacy.conftest import bearer

AVAILABILITY = ("state", "locked_reason", "unlocks_at")


async def some_progress(client: TestClient, pipeline: Pipeline, user: str = "u-1") -> None:
    assert (await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())).status == 200
    events = [
        event("chapter_progress", user_id=user, chapter_id="ch-1", progress=40, time_spent_s=30,
              position_s=12.5),
        event("chapter_completed", user_id=user, chapter_id="ch-2", time_spent_s=5),
        event("chapter_progress", user_id=user, chapter_id="ch-x", progress=10),
        event("quiz_attempt", user_id=user, quiz_id="q-1", attempt_id="a-1", score=8,
              max_score=10, responses=[{"question_id": "q1", "answer_ids": ["b"]}]),
        event("enrollment", user_id=user, status="enrolled"),
        event("chapter_progress", user_id=user, course_id="c-2", chapter_id="k-1", progress=5),
    ]
    resp = await client.post("/v1/events", json={"events": events}, headers=auth())
    assert resp.status == 202 and (await resp.json())["accepted"] == len(events)
    await pipeline.flush()


@pytest.fixture
async def two_learners(client: TestClient, pipeline: Pipeline) -> None:
    """u-1 and u-2 with the same progress in c-1 and c-2."""
    await some_progress(client, pipeline)
    await some_progress(client, pipeline, user="u-2")


async def api(client: TestClient, path: str) -> Any:
    resp = await client.get(path, headers=auth())
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_the_export_equals_what_the_read_api_serves_field_for_field(
    client: TestClient, two_learners: None,
) -> None:
    resp = await client.get("/v1/users/u-1/export", headers=auth())
    assert resp.status == 200 and resp.content_type == "application/json"
    assert "attachment" in resp.headers["Content-Disposition"]
    export = await resp.json()
    sections = export["sections"]
    assert export["user_id"] == "u-1"

    listed = (await api(client, "/v1/users/u-1/courses"))["items"]
    assert sorted(listed, key=lambda c: c["course_id"]) == sections["courses"]
    for course_id in ("c-1", "c-2"):
        view = await api(client, f"/v1/users/u-1/courses/{course_id}")
        chapters = [ch for m in view["modules"] for ch in m["chapters"]] + view["other_chapters"]
        # availability is computed at the time of a read, not stored: the export has none
        seen = {ch["chapter_id"]: {f: v for f, v in ch.items() if f not in AVAILABILITY}
                for ch in chapters if ch["first_activity_at"]}
        exported = {ch["chapter_id"]: {f: v for f, v in ch.items() if f != "course_id"}
                    for ch in sections["chapters"] if ch["course_id"] == course_id}
        assert exported == seen
    summary = await api(client, "/v1/users/u-1/summary")
    assert sections["summary"] == [summary]
    activity = await api(client, "/v1/users/u-1/activity")
    assert sections["activity"] == activity["days"]
    (attempt,) = sections["quiz_attempts"]
    assert attempt["attempt_id"] == "a-1" and attempt["responses"][0]["answer_ids"] == ["b"]
    logged = {(e["chapter_id"], e["kind"]) for e in sections["chapter_events"]}
    assert ("ch-2", "completing") in logged and ("ch-1", "progress") in logged
    assert "u-2" not in str(export)


async def test_ndjson_has_one_line_per_record_after_a_header(
    client: TestClient, pipeline: Pipeline,
) -> None:
    await some_progress(client, pipeline)
    whole = (await api(client, "/v1/users/u-1/export"))["sections"]
    resp = await client.get("/v1/users/u-1/export?format=ndjson", headers=auth())
    assert resp.status == 200 and resp.content_type == "application/x-ndjson"
    lines = [json.loads(line) for line in (await resp.text()).splitlines()]
    assert lines[0]["section"] == "export" and lines[0]["data"]["user_id"] == "u-1"
    regrouped: dict[str, list[Any]] = {name: [] for name in lines[0]["data"]["sections"]}
    for line in lines[1:]:
        regrouped[line["section"]].append(line["data"])
    assert regrouped == whole


async def test_a_user_token_exports_its_own_data_and_nobody_elses(
    client: TestClient, two_learners: None,
) -> None:
    own = await client.get("/v1/users/u-1/export", headers=bearer("u-1"))
    assert own.status == 200 and (await own.json())["user_id"] == "u-1"
    other = await client.get("/v1/users/u-2/export", headers=bearer("u-1"))
    assert other.status == 403 and (await other.json())["error"]["code"] == "forbidden_user"
    course = await client.get("/v1/courses/c-1/export.csv", headers=bearer("u-1"))
    assert course.status == 403
    reader = await client.get("/v1/users/u-1/export", headers=auth("test-read-secret"))
    assert reader.status == 403


async def test_an_unknown_learner_or_format_is_a_clear_error(client: TestClient) -> None:
    resp = await client.get("/v1/users/nobody/export", headers=auth())
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "user_not_found"
    resp = await client.get("/v1/users/nobody/export?format=xml", headers=auth())
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_query"
    resp = await client.get("/v1/courses/none/export.csv", headers=auth())
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "course_not_found"


async def test_the_course_csv_has_a_row_per_learner_and_chapter(
    client: TestClient, two_learners: None,
) -> None:
    resp = await client.get("/v1/courses/c-1/export.csv", headers=auth())
    assert resp.status == 200 and resp.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    catalog = ["ch-1", "ch-2", "ch-3", "ch-4"]
    assert [(r["user_id"], r["chapter_id"]) for r in rows] == [
        (u, ch) for u in ("u-1", "u-2") for ch in [*catalog, "ch-x"]]
    view = await api(client, "/v1/users/u-1/courses/c-1")
    by_chapter = {ch["chapter_id"]: ch for m in view["modules"] for ch in m["chapters"]}
    for r in rows[:4]:
        ch = by_chapter[r["chapter_id"]]
        assert (float(r["progress"]), r["completed"] == "true", float(r["time_spent_s"])) == (
            ch["progress"], ch["completed"], ch["time_spent_s"])
        assert float(r["course_percent_complete"]) == view["percent_complete"]
    assert rows[4]["in_catalog"] == "false" and rows[4]["progress"] == "10.0"
