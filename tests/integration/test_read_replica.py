"""Learner reads from a real streaming replica (``pg_basebackup -R``) state how stale they are."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from devstack.replica import streaming_replica
from devstack.servers import PostgresServer
from ingest.app import SERVER_OPTIONS, create_app
from ingest.replica import LAG_HEADER
from tests.helpers import CATALOG, auth, event
from tests.integration.test_pipeline import chapter
from tests.pipeline import Pipeline
from waymark.settings import Settings

VIEW = "/v1/users/u-1/courses/c-1"


@pytest.fixture(scope="module")
def replica(
    postgres_server: PostgresServer, migrated_database_url: str, server_root: Path,
) -> Iterator[PostgresServer]:
    server = streaming_replica(postgres_server, server_root / "pg-replica")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def replica_client(settings: Settings, replica: PostgresServer) -> AsyncIterator[TestClient]:
    server = TestServer(create_app(settings.replace(database_read_url=replica.url)))
    await server.start_server(**SERVER_OPTIONS)
    async with TestClient(server) as c:
        yield c


async def progress_when(client: TestClient, want: float) -> tuple[float, int]:
    """Read the view until its chapter shows ``want`` and the replica has replayed all it
    received (other writes may still be arriving just after it); return both."""
    lags = []
    for _ in range(200):
        resp = await client.get(VIEW, headers=auth())
        if resp.status == 200:
            body: dict[str, Any] = await resp.json()
            got = float(chapter(body, "ch-1")["progress"])
            lags.append(int(resp.headers[LAG_HEADER]))
            if got == want and lags[-1] == 0:
                return got, 0
        await asyncio.sleep(0.05)
    raise AssertionError(f"the replica never showed progress {want} with lag 0 (lags {lags})")


@contextlib.asynccontextmanager
async def replay_paused(
    client: TestClient, pipeline: Pipeline, replica: PostgresServer,
) -> AsyncIterator[None]:
    """Progress 40 replayed by the replica, then its replay paused and progress 80 applied on
    the primary: inside, the replica is behind by at least 0.3 s; after, it replays again."""
    assert (await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())).status == 200
    first = [event("chapter_progress", chapter_id="ch-1", progress=40)]
    assert (await client.post("/v1/events", json={"events": first}, headers=auth())).status == 202
    await pipeline.flush()
    await progress_when(client, 40)
    standby = await asyncpg.connect(replica.url)
    try:
        await standby.execute("SELECT pg_wal_replay_pause()")
        later = [event("chapter_progress", chapter_id="ch-1", progress=80)]
        resp = await client.post("/v1/events", json={"events": later}, headers=auth())
        assert resp.status == 202
        await pipeline.flush()
        await asyncio.sleep(0.3)
        yield
    finally:
        await standby.execute("SELECT pg_wal_replay_resume()")
        await standby.close()


async def test_a_read_from_the_replica_says_how_far_behind_it_is(
    replica_client: TestClient, pipeline: Pipeline, replica: PostgresServer,
) -> None:
    async with replay_paused(replica_client, pipeline, replica):
        resp = await replica_client.get(VIEW, headers=auth())
        body = await resp.json()
        assert chapter(body, "ch-1")["progress"] == 40  # the replica has not replayed it
        assert int(resp.headers[LAG_HEADER]) >= 300
    await progress_when(replica_client, 80)


REPLICA_READS = [
    "/v1/courses/c-1/stats", "/v1/courses/c-1/report", "/v1/courses/c-1/quizzes/q-1/stats",
    "/v1/users/u-1/courses/c-1/quizzes/q-1/attempts",
    "/v1/users/u-1/courses/c-1/quizzes/q-1/eligibility",
    "/v1/users/u-1/courses", "/v1/users/u-1/summary", "/v1/users/u-1/activity",
    "/v1/users/u-1/sessions", "/v1/users/u-1/courses/c-1/history", "/v1/users/u-1/skills",
    "/v1/users/u-1/courses/c-1/forecast", "/v1/users/u-1/reports/weekly",
    "/v1/users/u-1/reports/monthly",
]
"""Every read but the course read above: analytics, quiz and course reports included."""


async def test_analytics_quiz_and_report_reads_are_served_by_the_replica(
    replica_client: TestClient, pipeline: Pipeline, replica: PostgresServer,
) -> None:
    async with replay_paused(replica_client, pipeline, replica):
        lags = {}
        for path in REPLICA_READS:
            resp = await replica_client.get(path, headers=auth())
            assert resp.status in (200, 404), (path, resp.status, await resp.text())
            lags[path] = int(resp.headers.get(LAG_HEADER, "-1"))
        assert {p: lag for p, lag in lags.items() if lag < 300} == {}


async def test_a_read_from_the_primary_says_it_is_not_behind(client: TestClient) -> None:
    resp = await client.get(VIEW, headers=auth())
    assert resp.status == 404
    assert resp.headers[LAG_HEADER] == "0"
