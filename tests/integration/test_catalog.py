"""Course catalog: storage, versions, and course percent recomputed when it changes."""

from __future__ import annotations

import copy

from aiohttp.test_utils import TestClient

from tests.helpers import CATALOG, auth, event
from tests.integration.test_pipeline import post, progress
from tests.pipeline import Pipeline
from workers.main import recompute_course


async def test_a_catalog_is_stored_and_versioned_only_when_its_structure_changes(
    client: TestClient,
) -> None:
    first = await (await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())).json()
    retitled = dict(CATALOG, title="Python 101, 2nd edition")
    second = await (await client.put("/v1/courses/c-1", json=retitled, headers=auth())).json()
    changed = copy.deepcopy(retitled)
    changed["modules"][0]["chapters"].append({"chapter_id": "ch-5"})
    third = await (await client.put("/v1/courses/c-1", json=changed, headers=auth())).json()
    assert [first["version"], second["version"], third["version"]] == [1, 1, 2]
    got = await (await client.get("/v1/courses/c-1", headers=auth())).json()
    assert got["title"] == "Python 101, 2nd edition"
    assert [c["chapter_id"] for c in got["modules"][0]["chapters"]] == ["ch-1", "ch-2", "ch-5"]


async def test_an_invalid_catalog_is_refused(client: TestClient) -> None:
    dup = copy.deepcopy(CATALOG)
    dup["modules"][1]["chapters"].append({"chapter_id": "ch-1"})
    resp = await client.put("/v1/courses/c-1", json=dup, headers=auth())
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_catalog"
    resp = await client.put("/v1/courses/c-1", json={"modules": [], "bogus": 1}, headers=auth())
    assert resp.status == 400
    assert (await client.get("/v1/courses/c-1", headers=auth())).status == 404


async def test_a_catalog_change_recomputes_existing_learners(
    client: TestClient, pipeline: Pipeline
) -> None:
    for user in ("u-1", "u-2"):
        await post(client, [event("chapter_completed", user_id=user, chapter_id="ch-1"),
                            event("chapter_completed", user_id=user, chapter_id="ch-9")])
    await pipeline.flush()
    assert (await progress(client))["percent_complete"] is None  # no catalog yet
    await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())
    assert await recompute_course(pipeline.ctx, "c-1", 1) == 2
    assert (await progress(client, "u-2"))["percent_complete"] == 25.0  # ch-1: 1 of 4
    grown = copy.deepcopy(CATALOG)
    grown["modules"][1]["chapters"].append({"chapter_id": "ch-9", "weight": 4})
    await client.put("/v1/courses/c-1", json=grown, headers=auth())
    await recompute_course(pipeline.ctx, "c-1", 2)
    view = await progress(client, "u-1")
    assert view["percent_complete"] == 62.5  # ch-1 (1) + ch-9 (4) of 8: data kept, now counted
    assert view["other_chapters"] == []
