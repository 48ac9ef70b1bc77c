"""Learning paths over HTTP: definitions, a learner's progress, pages, errors and access."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import CATALOG, auth, event
from tests.integration.test_pipeline import post
from tests.pipeline import Pipeline
from tests.security.conftest import bearer

PATH = {"title": "Data track", "sequential": True,
        "courses": [{"course_id": "c-1"}, {"course_id": "c-2"},
                    {"course_id": "c-3", "required": False}]}


async def put(client: TestClient, url: str, doc: Any) -> tuple[int, Any]:
    resp = await client.put(url, json=doc, headers=auth())
    return resp.status, await resp.json()


async def catalogs(client: TestClient, *courses: str) -> None:
    for c in courses:
        assert (await put(client, f"/v1/courses/{c}", CATALOG))[0] == 200


async def complete(client: TestClient, course: str) -> None:
    await post(client, [event("chapter_completed", course_id=course, chapter_id=ch)
                        for ch in ("ch-1", "ch-2", "ch-3")])


async def test_a_path_is_stored_versioned_and_read_back(client: TestClient) -> None:
    await catalogs(client, "c-1", "c-2", "c-3")
    status, first = await put(client, "/v1/paths/p-1", PATH)
    assert status == 200 and first["version"] == 1
    assert (await put(client, "/v1/paths/p-1", dict(PATH, title="Renamed")))[1]["version"] == 1
    assert (await put(client, "/v1/paths/p-1", dict(PATH, sequential=False)))[1]["version"] == 2
    got = await (await client.get("/v1/paths/p-1", headers=auth())).json()
    assert [c["course_id"] for c in got["courses"]] == ["c-1", "c-2", "c-3"]
    assert got["title"] == "Data track" and got["sequential"] is False
    missing = await client.get("/v1/paths/nope", headers=auth())
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "path_not_found"


async def test_a_bad_path_is_refused_and_nothing_is_stored(client: TestClient) -> None:
    await catalogs(client, "c-1")
    bad = [
        ({"courses": [{"course_id": "c-1"}, {"course_id": "c-1"}]}, "appears twice"),
        ({"courses": [{"course_id": "c-1"}, {"course_id": "unknown"}]}, "unknown course"),
        ({"courses": [{"course_id": f"c-{i}"} for i in range(101)]}, "length <= 100"),
        ({"courses": []}, "length >= 1"),
        ({"title": "no courses"}, "missing required field `courses`"),
    ]
    for doc, words in bad:
        status, body = await put(client, "/v1/paths/p-1", doc)
        assert status == 400, doc
        assert body["error"]["code"] == "invalid_catalog"
        assert words in body["error"]["message"]
    assert (await client.get("/v1/paths/p-1", headers=auth())).status == 404
    status, body = await put(client, "/v1/paths/no%20spaces", {"courses": [{"course_id": "c-1"}]})
    assert status == 400 and "is not an id" in body["error"]["message"]


async def test_a_learners_path_progress_follows_their_courses(
    client: TestClient, pipeline: Pipeline
) -> None:
    await catalogs(client, "c-1", "c-2", "c-3")
    await put(client, "/v1/paths/p-1", PATH)
    await post(client, [event("enrollment", status="enrolled", course_id="c-1")])
    await pipeline.flush()
    view = await (await client.get("/v1/users/u-1/paths/p-1", headers=auth())).json()
    assert view["percent_complete"] == 0 and view["current_course_id"] == "c-1"
    assert [c["state"] for c in view["courses"]] == ["available", "locked", "locked"]
    await complete(client, "c-1")
    await pipeline.flush()
    view = await (await client.get("/v1/users/u-1/paths/p-1", headers=auth())).json()
    assert view["percent_complete"] == 50 and view["current_course_id"] == "c-2"
    assert [c["state"] for c in view["courses"]] == ["completed", "available", "locked"]
    await complete(client, "c-2")
    await pipeline.flush()
    view = await (await client.get("/v1/users/u-1/paths/p-1", headers=auth())).json()
    assert view["status"] == "completed" and view["current_course_id"] is None
    assert view["completed_at"] is not None


async def test_a_learners_paths_come_in_pages(client: TestClient, pipeline: Pipeline) -> None:
    await catalogs(client, "c-1", "c-2")
    for p in ("p-a", "p-b", "p-c"):
        await put(client, f"/v1/paths/{p}", {"courses": [{"course_id": "c-1"}]})
    await put(client, "/v1/paths/p-other", {"courses": [{"course_id": "c-2"}]})
    await post(client, [event("course_viewed", course_id="c-1")])
    await pipeline.flush()
    seen, cursor = [], ""
    while True:
        q = f"?limit=2&cursor={cursor}" if cursor else "?limit=2"
        page = await (await client.get(f"/v1/users/u-1/paths{q}", headers=auth())).json()
        seen += [p["path_id"] for p in page["paths"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == ["p-a", "p-b", "p-c"]
    one = await (await client.get("/v1/users/u-1/paths?limit=3", headers=auth())).json()
    assert one["next_cursor"] is None and len(one["paths"]) == 3
    empty = await (await client.get("/v1/users/nobody/paths", headers=auth())).json()
    assert empty == {"user_id": "nobody", "paths": [], "next_cursor": None}
    for bad in ("0", "201", "x"):
        resp = await client.get(f"/v1/users/u-1/paths?limit={bad}", headers=auth())
        assert (await resp.json())["error"]["code"] == "invalid_query"
    resp = await client.get("/v1/users/u-1/paths/p-other", headers=auth())
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "path_not_found"


async def test_a_learner_reads_their_own_paths_and_no_one_elses(
    client: TestClient, pipeline: Pipeline
) -> None:
    await catalogs(client, "c-1")
    await put(client, "/v1/paths/p-1", {"courses": [{"course_id": "c-1"}]})
    await post(client, [event("course_viewed", course_id="c-1")])
    await pipeline.flush()
    for url in ("/v1/users/u-1/paths", "/v1/users/u-1/paths/p-1"):
        assert (await client.get(url, headers=bearer("u-1"))).status == 200
        other = await client.get(url, headers=bearer("u-2"))
        assert other.status == 403
    assert (await client.put("/v1/paths/p-1", json={"courses": [{"course_id": "c-1"}]},
                             headers=bearer("u-1"))).status == 403
    assert (await client.get("/v1/paths/p-1", headers=bearer("u-1"))).status == 403


async def test_an_enrollment_names_a_path_that_holds_its_course_or_is_rejected(
    client: TestClient, pipeline: Pipeline
) -> None:
    await catalogs(client, "c-1", "c-2")
    await put(client, "/v1/paths/p-1", {"courses": [{"course_id": "c-1"}]})
    result = await post(client, [
        event("enrollment", status="enrolled", course_id="c-1", path_id="p-1"),
        event("enrollment", status="enrolled", course_id="c-2", path_id="p-1"),
        event("enrollment", status="enrolled", course_id="c-1", path_id="p-none"),
    ])
    assert result["accepted"] == 1
    assert [(r["index"], r["code"]) for r in result["rejected"]] == [
        (1, "invalid_value"), (2, "invalid_value")]
    assert "not in path 'p-1'" in result["rejected"][0]["message"]
    await pipeline.flush()
    page = await (await client.get("/v1/users/u-1/paths", headers=auth())).json()
    assert [p["path_id"] for p in page["paths"]] == ["p-1"]
    resp = await client.get("/v1/users/u-1/courses/c-2", headers=auth())
    assert resp.status == 404  # nothing of a rejected event is stored
