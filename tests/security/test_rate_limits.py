"""Rate limits per API key and per user: a noisy user slows only themselves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from structlog.testing import capture_logs

from devstack.servers import RedisServer
from ingest.ratelimit import OUTAGE_SKIP_S
from tests.conftest import INGEST_KEY, READ_KEY
from tests.helpers import auth, event
from tests.integration.test_rejections import error_of
from tests.security.conftest import bearer, serve
from waymark.settings import Settings

BURST = 3


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[TestClient]:
    limits = settings.replace(rate_limit_user_rps=1, rate_limit_user_burst=BURST,
                              rate_limit_key_rps=1, rate_limit_key_burst=BURST)
    async with await serve(limits) as c:
        yield c


def batch(user_id: str) -> dict[str, object]:
    return {"events": [event("course_viewed", user_id=user_id)]}


async def test_a_noisy_user_gets_429_while_another_user_goes_through(
    limited: TestClient, redis_url: str
) -> None:
    statuses = []
    for _ in range(BURST + 2):
        resp = await limited.post("/v1/events", json=batch("u-noisy"), headers=bearer("u-noisy"))
        statuses.append(resp.status)
    assert statuses == [202] * BURST + [429, 429]
    assert int(resp.headers["Retry-After"]) >= 1
    assert await error_of(resp) == "rate_limited"
    quiet = await limited.post("/v1/events", json=batch("u-quiet"), headers=bearer("u-quiet"))
    assert quiet.status == 202
    async with Redis.from_url(redis_url) as r:  # each credential in its own key (and slot)
        assert {k async for k in r.scan_iter("rl:*")} == {b"rl:{u.u-noisy}", b"rl:{u.u-quiet}"}


async def test_an_api_key_has_its_own_bucket(limited: TestClient) -> None:
    for _ in range(BURST):
        resp = await limited.post("/v1/events", json=batch("u-1"), headers=auth(INGEST_KEY))
        assert resp.status == 202
    resp = await limited.post("/v1/events", json=batch("u-1"), headers=auth(INGEST_KEY))
    assert resp.status == 429
    assert "Retry-After" in resp.headers
    other_key = await limited.get("/v1/users/u-1/courses/c-1", headers=auth(READ_KEY))
    assert other_key.status == 404  # not limited: a different key


async def test_a_refused_request_is_not_counted_against_anyone(limited: TestClient) -> None:
    for _ in range(BURST + 2):
        resp = await limited.post("/v1/events", json=batch("u-1"),
                                  headers={"Authorization": "Bearer wrong"})
        assert resp.status == 401
    resp = await limited.post("/v1/events", json=batch("u-1"), headers=bearer("u-1"))
    assert resp.status == 202


async def test_the_limiter_fails_open_when_redis_is_away(
    limited: TestClient, redis_server: RedisServer
) -> None:
    def read() -> Any:
        return limited.get("/v1/users/u-1/courses/c-1", headers=auth(READ_KEY))

    redis_server.stop()
    try:
        with capture_logs() as logs:
            statuses = [(await read()).status for _ in range(BURST + 2)]
    finally:
        redis_server.start()
    assert statuses == [404] * (BURST + 2)  # over the burst, still answered from PostgreSQL
    outages = [e for e in logs if e["event"] == "rate_limit_unavailable"]
    assert outages and outages[0]["log_level"] == "warning"
    assert len(outages) < len(statuses)  # skipped for a while, not retried on every request
    await asyncio.sleep(OUTAGE_SKIP_S)
    statuses = [(await read()).status for _ in range(BURST + 1)]
    assert statuses == [404] * BURST + [429]  # Redis is back: so are the limits
