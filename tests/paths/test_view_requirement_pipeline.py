"""A ``course_viewed`` naming a chapter completes a ``view`` chapter, through the real pipeline.

Late views, uncompletes and views again, and a catalog change to and from ``view`` recomputed
from the chapter event log: each state equals the reference model.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from tests.helpers import auth, event, now_ms
from tests.integration.test_pipeline import chapter, post, progress
from tests.pipeline import Pipeline
from tests.reference import chapter_state
from workers.main import recompute_course

CATALOG: dict[str, Any] = {"modules": [{"module_id": "m1", "chapters": [
    {"chapter_id": "ch-1"}, {"chapter_id": "ch-2", "requirement": "view"}]}]}


def ms(iso: str | None) -> int | None:
    return None if iso is None else round(datetime.fromisoformat(iso).timestamp() * 1000)


class History:
    """What was sent, to ask the reference model about."""

    def __init__(self, client: TestClient, pipeline: Pipeline) -> None:
        self.client, self.pipeline, self.sent = client, pipeline, []  # type: list[dict[str, Any]]

    async def send(self, *events: dict[str, Any]) -> dict[str, Any]:
        await post(self.client, list(events))
        self.sent += events
        await self.pipeline.flush()
        return await progress(self.client)

    def want(self, chapter_id: str, requirement: tuple[Any, ...] | None) -> tuple[Any, ...]:
        r = chapter_state(self.sent, "u-1", "c-1", chapter_id, requirement=requirement)
        return r.completed, r.completed_at, r.progress, r.time_ms


def got(view: dict[str, Any], chapter_id: str) -> tuple[Any, ...]:
    ch = chapter(view, chapter_id)
    return ch["completed"], ms(ch["completed_at"]), ch["progress"], round(ch["time_spent_s"] * 1000)


async def test_a_late_view_completes_an_uncomplete_undoes_a_later_view_redoes(
    client: TestClient, pipeline: Pipeline, database_url: str
) -> None:
    assert (await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())).status == 200
    t, h, view_rule = now_ms() - 120_000, History(client, pipeline), ("view", 0)
    view = await h.send(event("chapter_progress", chapter_id="ch-1", progress=40,
                              time_spent_s=5, ts=t + 10_000))
    assert got(view, "ch-2")[0] is False
    view = await h.send(event("course_viewed", chapter_id="ch-2", ts=t + 2_000),  # late
                        event("course_viewed", chapter_id="ch-1", ts=t + 3_000))
    assert got(view, "ch-2") == h.want("ch-2", view_rule) == (True, t + 2_000, 100.0, 0)
    assert got(view, "ch-1") == h.want("ch-1", None) == (False, None, 40.0, 5_000)
    assert view["percent_complete"] == 50.0
    view = await h.send(event("chapter_uncompleted", chapter_id="ch-2", ts=t + 20_000))
    assert got(view, "ch-2") == h.want("ch-2", view_rule) == (False, None, 0.0, 0)
    view = await h.send(event("course_viewed", chapter_id="ch-2", ts=t + 30_000))
    assert got(view, "ch-2") == h.want("ch-2", view_rule) == (True, t + 30_000, 100.0, 0)

    conn = await asyncpg.connect(database_url)
    try:  # the views are in the chapter event log, where a recompute reads them
        logged = await conn.fetchval("SELECT count(*) FROM chapter_event_log"
                                     " WHERE chapter_id = 'ch-1'")
        counted = await conn.fetchval("SELECT sum(events) FROM daily_activity")
        in_sessions = await conn.fetchval("SELECT sum(events) FROM learner_sessions")
    finally:
        await conn.close()
    assert logged == 2
    assert counted == in_sessions == 2  # a view is course-level activity: only the chapter events

    changed = copy.deepcopy(CATALOG)  # ch-1 becomes a view chapter: its early view completes it
    changed["modules"][0]["chapters"][0]["requirement"] = "view"
    assert (await client.put("/v1/courses/c-1", json=changed, headers=auth())).status == 200
    await recompute_course(pipeline.ctx, "c-1", 2)
    view = await progress(client)
    assert got(view, "ch-1") == h.want("ch-1", view_rule) == (True, t + 3_000, 100.0, 5_000)
    assert view["percent_complete"] == 100.0
    assert (await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())).status == 200
    await recompute_course(pipeline.ctx, "c-1", 3)  # and back: the view counts for nothing
    assert got(await progress(client), "ch-1") == h.want("ch-1", None) == (
        False, None, 40.0, 5_000)
