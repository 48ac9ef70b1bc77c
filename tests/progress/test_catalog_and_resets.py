"""Catalog changes while events flow, and resets (events and DELETE) with late older events."""

from __future__ import annotations

import asyncio
import copy
import random
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from tests.helpers import CATALOG, auth, event, now_ms
from tests.integration.test_pipeline import post, progress
from tests.pipeline import Pipeline
from tests.progress.support import get
from tests.reference import chapter_state, course_percent, course_visible
from workers.main import recompute_course


def _flat(catalog: dict[str, Any]) -> list[tuple[str, float, bool]]:
    return [(c["chapter_id"], c.get("weight", 1), c.get("required", True))
            for m in catalog["modules"] for c in m["chapters"]]


async def _put(client: TestClient, catalog: dict[str, Any]) -> int:
    resp = await client.put("/v1/courses/c-1", json=catalog, headers=auth())
    assert resp.status == 200, await resp.text()
    return int((await resp.json())["version"])


async def test_a_catalog_change_while_events_flow_ends_at_the_model_of_the_final_catalog(
    client: TestClient, pipeline: Pipeline
) -> None:
    rnd = random.Random(7)
    users = [f"u-{i}" for i in range(40)]
    chapters = ["ch-1", "ch-2", "ch-3", "ch-4", "ch-9"]
    grown = copy.deepcopy(CATALOG)
    grown["modules"][1]["chapters"].append({"chapter_id": "ch-9", "weight": 3})
    shrunk = copy.deepcopy(grown)
    del shrunk["modules"][0]["chapters"][1]  # ch-2 goes
    catalogs = [CATALOG, grown, shrunk]
    sent: list[dict[str, Any]] = []
    t = now_ms() - 120_000
    await _put(client, CATALOG)
    for round_ in range(3):
        batch = [event(rnd.choice(["chapter_completed", "chapter_uncompleted"]),
                       user_id=rnd.choice(users), chapter_id=rnd.choice(chapters),
                       ts=t + rnd.randrange(100_000)) for _ in range(60)]
        sent += batch
        await post(client, batch)
        version = await _put(client, catalogs[round_])
        await asyncio.gather(pipeline.flush(), recompute_course(pipeline.ctx, "c-1", version))
    await pipeline.flush()
    final = _flat(shrunk)
    for user in {e["user_id"] for e in sent}:
        if not course_visible(sent, user, "c-1"):  # only uncompletes: kept, not shown
            await get(client, f"/v1/users/{user}/courses/c-1", status=404)
            continue
        ref = {c: chapter_state(sent, user, "c-1", c) for c in chapters}
        view = await progress(client, user)
        assert view["percent_complete"] == course_percent(ref, final), user
        assert 0 <= view["percent_complete"] <= 100
    catalog = await get(client, "/v1/courses/c-1")
    assert catalog["version"] == 3
    rc = catalog["recompute"]
    assert (rc["version"], rc["state"]) == (3, "done")
    # learners who arrive during a recompute are rolled up by their own batch, maybe also by it
    assert 0 < rc["learners_done"] == rc["learners_total"] <= len({e["user_id"] for e in sent})


async def test_adding_a_chapter_lowers_and_removing_one_raises_never_past_100(
    client: TestClient, pipeline: Pipeline
) -> None:
    await _put(client, CATALOG)
    await post(client, [event("chapter_completed", chapter_id=c) for c in ("ch-1", "ch-2", "ch-3")])
    await pipeline.flush()
    assert (await progress(client))["percent_complete"] == 100.0
    grown = copy.deepcopy(CATALOG)
    grown["modules"][0]["chapters"].append({"chapter_id": "ch-new", "weight": 4})
    await recompute_course(pipeline.ctx, "c-1", await _put(client, grown))
    view = await progress(client)
    assert (view["percent_complete"], view["status"], view["completed_at"]) == (
        50.0, "in_progress", None)
    await recompute_course(pipeline.ctx, "c-1", await _put(client, CATALOG))
    assert (await progress(client))["percent_complete"] == 100.0


async def test_a_superseded_recompute_stops_and_the_newest_version_wins(
    client: TestClient, pipeline: Pipeline
) -> None:
    await _put(client, CATALOG)
    await post(client, [event("chapter_completed", user_id=f"u-{i}", chapter_id="ch-1")
                        for i in range(5)])
    await pipeline.flush()
    grown = copy.deepcopy(CATALOG)
    grown["modules"][0]["chapters"].append({"chapter_id": "ch-new"})
    v2 = await _put(client, grown)
    assert await recompute_course(pipeline.ctx, "c-1", v2 - 1) == 0  # an old job: nothing to do
    assert await recompute_course(pipeline.ctx, "c-1", v2) == 5
    assert (await progress(client, "u-3"))["percent_complete"] == 20.0


async def test_delete_resets_like_a_reset_event_and_late_older_events_never_count(
    client: TestClient, pipeline: Pipeline, database_url: str
) -> None:
    await _put(client, CATALOG)
    t = now_ms() - 60_000
    await post(client, [
        event("chapter_completed", chapter_id="ch-1", time_spent_s=10, ts=t),
        event("quiz_attempt", quiz_id="q", attempt_id="a-1", score=9, max_score=10, ts=t),
    ])
    await pipeline.flush()
    resp = await client.delete("/v1/users/u-1/courses/c-1/progress", headers=auth())
    assert resp.status == 202, await resp.text()
    await pipeline.flush()
    await post(client, [event("chapter_completed", chapter_id="ch-2", ts=t + 1000)])  # late
    await pipeline.flush()
    view = await progress(client)
    assert (view["percent_complete"], view["status"], view["time_spent_s"]) == (
        0.0, "not_started", 0)
    assert view["quizzes"][0]["attempts"] == 0  # the summary starts over ...
    conn = await asyncpg.connect(database_url)
    try:  # ... the history of attempts is kept
        assert await conn.fetchval("SELECT count(*) FROM quiz_attempts") == 1
    finally:
        await conn.close()
    await post(client, [event("chapter_completed", chapter_id="ch-2", ts=now_ms())])  # after
    await pipeline.flush()
    assert (await progress(client))["percent_complete"] == 25.0
    forbidden = await client.delete("/v1/users/u-1/courses/c-1/progress",
                                    headers=auth("test-read-secret"))
    assert forbidden.status == 403
