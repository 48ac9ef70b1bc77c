"""Rate limits per API key and per user (SPEC §4 429, §11.4): a noisy user slows only themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.auth import Principal
from ingest.ratelimit import RateLimiter
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


async def test_the_limiter_fails_open_when_redis_is_away() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    limiter = RateLimiter(dead, key_rps=1, key_burst=1, user_rps=1, user_burst=1)
    user = Principal(name="user:u-1", scopes=frozenset({"read"}), user_id="u-1")
    for _ in range(3):  # allowed: ingest answers 503 by itself when its buffer is away
        await limiter.check(user)
    await dead.aclose()
