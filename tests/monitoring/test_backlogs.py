"""The outbox and catalog-recompute backlogs reach /metrics."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient

from monitoring.alert_loop import MONITOR
from tests.monitoring.conftest import sample


async def test_outbox_and_recompute_backlogs_are_sampled(
    client: TestClient, database_url: str
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO outbox (type, user_id, course_id, occurred_at, payload)"
            " SELECT 'course.progressed', 'u-1', 'c-1', now(), '{}' FROM generate_series(1, 2)")
        await conn.execute(
            "INSERT INTO catalog_recompute (course_id, version, learners_total, learners_done)"
            " VALUES ('c-1', 2, 10, 4), ('c-2', 1, 5, 5)")
        await conn.execute(
            "UPDATE catalog_recompute SET finished_at = now() WHERE course_id = 'c-2'")
    finally:
        await conn.close()
    await client.server.app[MONITOR].tick()
    text = await (await client.get("/metrics")).text()
    assert sample(text, "waymark_outbox_backlog") == 2
    assert sample(text, "waymark_recompute_backlog") == 6
