"""Availability in the course read and the domain events of completions, through the pipeline."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import auth, event, now_ms
from tests.integration.test_pipeline import post
from tests.pipeline import Pipeline
from tests.progress.support import outbox
from workers.main import recompute_path

CATALOG: dict[str, Any] = {"modules": [
    {"module_id": "m1", "sequential": True, "chapters": [
        {"chapter_id": "ch-1"}, {"chapter_id": "ch-2"}]},
    {"module_id": "m2", "prerequisites": ["m1"], "chapters": [{"chapter_id": "ch-3"}]},
    {"module_id": "m3", "unlock_at": "2099-01-01T00:00:00Z", "chapters": [
        {"chapter_id": "ch-4"}]},
]}


async def read(client: TestClient, query: str = "") -> dict[str, Any]:
    resp = await client.get(f"/v1/users/u-1/courses/c-1{query}", headers=auth())
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


def states(view: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    out = {m["module_id"]: (m["state"], m["locked_reason"]) for m in view["modules"]}
    out |= {c["chapter_id"]: (c["state"], c["locked_reason"])
            for m in view["modules"] for c in m["chapters"]}
    return out


async def test_a_sequential_module_unlocks_chapter_by_chapter_and_says_so(
    client: TestClient, pipeline: Pipeline, database_url: str
) -> None:
    assert (await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())).status == 200
    await post(client, [event("chapter_progress", chapter_id="ch-1", progress=30),
                        event("chapter_progress", chapter_id="ch-3", progress=50)])
    await pipeline.flush()
    view = await read(client)
    assert states(view) == {
        "m1": ("in_progress", None), "ch-1": ("in_progress", None),
        "ch-2": ("locked", "sequential"), "m2": ("locked", "prerequisite"),
        "ch-3": ("locked", "prerequisite"), "m3": ("locked", "date"), "ch-4": ("locked", "date"),
    }
    assert view["modules"][2]["unlocks_at"] == "2099-01-01T00:00:00Z"
    assert view["next_chapter"] == "ch-1"
    assert view["percent_complete"] == 0  # ch-3's progress is kept while locked

    t = now_ms() - 30_000
    await post(client, [event("chapter_completed", chapter_id="ch-1", ts=t)])
    await pipeline.flush()
    assert states(await read(client))["ch-2"] == ("available", None)
    await post(client, [event("chapter_completed", chapter_id="ch-2", ts=t + 1),
                        event("chapter_completed", chapter_id="ch-2", ts=t + 2)])
    await pipeline.flush()
    view = await read(client)
    assert states(view)["m1"] == ("completed", None)
    assert states(view)["ch-3"] == ("in_progress", None)
    assert view["next_chapter"] == "ch-3"
    later = await read(client, "?as_of=2099-01-02T00:00:00%2B00:00")
    assert states(later)["ch-4"] == ("available", None)
    bad = await client.get("/v1/users/u-1/courses/c-1?as_of=soon", headers=auth())
    assert (await bad.json())["error"]["code"] == "invalid_query"

    rows = [r for r in await outbox(database_url)
            if r["type"] in ("module.completed", "chapter.unlocked")]
    got = [(r["type"], r["payload"]) for r in rows]
    assert [t for t, _ in got] == ["chapter.unlocked", "module.completed",
                                   "chapter.unlocked", "chapter.unlocked"]
    assert '"chapter_id": "ch-2"' in got[0][1] and '"module_id": "m1"' in got[1][1]
    assert '"kind": "module"' in got[2][1] and '"chapter_id": "ch-3"' in got[3][1]


async def test_path_events_are_written_once_per_change(
    client: TestClient, pipeline: Pipeline, database_url: str
) -> None:
    one = {"modules": [{"module_id": "m", "chapters": [{"chapter_id": "ch-1"}]}]}
    for c in ("c-1", "c-2"):
        await client.put(f"/v1/courses/{c}", json=one, headers=auth())
    path = {"courses": [{"course_id": "c-1"}, {"course_id": "c-2"}]}
    assert (await client.put("/v1/paths/p-1", json=path, headers=auth())).status == 200
    for c in ("c-1", "c-1", "c-2"):
        await post(client, [event("chapter_completed", course_id=c, chapter_id="ch-1")])
        await pipeline.flush()
    rows = [r for r in await outbox(database_url) if r["type"].startswith("path.")]
    assert [r["type"] for r in rows] == ["path.progressed", "path.progressed", "path.completed"]
    assert '"percent_complete": 50.0' in rows[0]["payload"]
    await client.put("/v1/courses/c-3", json=one, headers=auth())
    grown = {"courses": [*path["courses"], {"course_id": "c-3"}]}
    assert (await client.put("/v1/paths/p-1", json=grown, headers=auth())).status == 200
    assert await recompute_path(pipeline.ctx, "p-1") == 1  # the job the PUT queued
    rows = [r for r in await outbox(database_url) if r["type"].startswith("path.")][3:]
    assert [r["type"] for r in rows] == ["path.progressed"]
    assert '"percent_complete": 66.67' in rows[0]["payload"]
    view = await (await client.get("/v1/users/u-1/paths/p-1", headers=auth())).json()
    assert view["status"] == "in_progress" and view["current_course_id"] == "c-3"


async def test_completing_a_prerequisite_course_unlocks_the_next_one(
    client: TestClient, pipeline: Pipeline, database_url: str
) -> None:
    one = {"modules": [{"module_id": "m", "chapters": [{"chapter_id": "ch-1"}]}]}
    assert (await client.put("/v1/courses/c-0", json=one, headers=auth())).status == 200
    after = dict(one, prerequisites=["c-0"])
    assert (await client.put("/v1/courses/c-1", json=after, headers=auth())).status == 200
    await post(client, [event("enrollment", status="enrolled", course_id="c-1")])
    await pipeline.flush()
    assert states(await read(client))["m"] == ("locked", "prerequisite")
    await post(client, [event("chapter_completed", course_id="c-0", chapter_id="ch-1")])
    await pipeline.flush()
    view = await read(client)
    assert states(view)["ch-1"] == ("available", None) and view["next_chapter"] == "ch-1"
    rows = [(r["type"], r["course_id"]) for r in await outbox(database_url)
            if r["type"] == "chapter.unlocked"]
    assert rows == [("chapter.unlocked", "c-1"), ("chapter.unlocked", "c-1")]  # m, then ch-1
