"""A path stored or changed after its learners finished its courses: the ``recompute_path`` job
gives those who already qualify the path's milestone, ``paths_completed`` award and
certificate, exactly once, through the pipeline."""

from __future__ import annotations

from collections import Counter
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from tests.helpers import auth, event
from tests.integration.test_pipeline import post
from tests.pipeline import Pipeline
from tests.progress.support import outbox
from waymark.settings import Settings
from workers.main import recompute_path

ONE = {"modules": [{"module_id": "m", "chapters": [{"chapter_id": "ch-1"}]}]}
PATH: dict[str, Any] = {"title": "Both", "courses": [{"course_id": "c-1"}, {"course_id": "c-2"}]}


async def rows(database_url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def rewarded(database_url: str) -> tuple[set[tuple[str, str]], Counter[tuple[str, str]]]:
    """The (user, path) path certificates, and how often each path reward was announced."""
    certs = {(r["user_id"], r["scope_id"]) for r in await rows(
        database_url, "SELECT user_id, scope_id FROM certificates WHERE scope = 'path'")}
    sent = Counter((r["type"], r["user_id"]) for r in await outbox(database_url)
                   if r["type"] in ("achievement.awarded", "certificate.issued"))
    return certs, sent


async def queued(settings: Settings) -> int:
    """How many jobs wait in the worker queue."""
    assert settings.queue_url is not None
    redis = Redis.from_url(settings.queue_url)
    try:
        return int(await redis.zcard("arq:queue"))
    finally:
        await redis.aclose()


async def test_a_path_changed_to_issue_certificates_rewards_those_who_already_qualify_once(
    client: TestClient, pipeline: Pipeline, database_url: str, settings: Settings
) -> None:
    for c in ("c-1", "c-2"):
        assert (await client.put(f"/v1/courses/{c}", json=ONE, headers=auth())).status == 200
    body = {"points": 3, "criteria": {"kind": "paths_completed", "threshold": 1}}
    assert (await client.put("/v1/achievements/paths", json=body, headers=auth())).status == 200
    await post(client, [event("chapter_completed", course_id=c, chapter_id="ch-1", user_id=u)
                        for u, c in (("u-1", "c-1"), ("u-1", "c-2"), ("u-2", "c-1"))])
    await pipeline.flush()
    assert await rewarded(database_url) == (set(), Counter())  # no path yet

    assert (await client.put("/v1/paths/p-1", json=PATH, headers=auth())).status == 200
    assert await recompute_path(pipeline.ctx, "p-1") == 2  # the job the PUT queued
    certs, sent = await rewarded(database_url)
    assert certs == set() and sent == Counter({("achievement.awarded", "u-1"): 1})
    milestones = await rows(database_url, "SELECT user_id FROM learner_milestones"
                                          " WHERE kind = 'path' AND item_id = 'p-1'")
    assert [r["user_id"] for r in milestones] == ["u-1"]

    enabled = {**PATH, "certificate": {"enabled": True}}
    before = await queued(settings)
    assert (await client.put("/v1/paths/p-1", json=enabled, headers=auth())).status == 200
    assert await queued(settings) == before + 1  # the rule changed, not the version: a job
    for _ in range(2):  # a job run twice (a retry) gives nothing twice
        assert await recompute_path(pipeline.ctx, "p-1") == 2
    certs, sent = await rewarded(database_url)
    assert certs == {("u-1", "p-1")}
    assert sent == Counter({("achievement.awarded", "u-1"): 1, ("certificate.issued", "u-1"): 1})
    points = await (await client.get("/v1/users/u-1/points", headers=auth())).json()
    assert points["balance"] == 3
