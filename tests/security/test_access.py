"""User tokens reach their own user's data only; API keys keep their scopes."""

from __future__ import annotations

import gzip
import re
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ingest.routes import ROUTES
from tests.conftest import ADMIN_KEY, INGEST_KEY, READ_KEY
from tests.helpers import CATALOG, auth, event
from tests.integration.test_rejections import buffer_is_empty, error_of
from tests.pipeline import Pipeline
from tests.security.conftest import OLD_TOKEN_SECRET, bearer

ME, OTHER = "u-me", "u-other"
ANY_USER_TOKEN = {("GET", "/v1/leaderboards/points"),
                  ("GET", "/v1/certificates/{certificate_id}.pdf")}
"""Routes without a user in the path that any user token may read: the leaderboard (its own rank
is added), a certificate's PDF (the handler answers only the token's own: 403 for another's,
tested in tests/certificates)."""
_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def routes(app: web.Application) -> list[tuple[str, str]]:
    """Every (method, path template) the app serves, as registered (new routes included)."""
    out = []
    for resource in app.router.resources():
        for route in resource:
            if route.method not in ("HEAD", "OPTIONS", "*"):
                out.append((route.method, resource.canonical))
    return sorted(set(out))


def fill(template: str, user_id: str) -> str:
    return _PARAM.sub(lambda m: user_id if m.group(1) == "user_id" else "c-1", template)


async def send(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    return await client.request(method, path, json={}, headers=headers)


async def seed(client: TestClient, pipeline: Pipeline) -> None:
    await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())
    events = [event("chapter_completed", user_id=u, chapter_id="ch-1") for u in (ME, OTHER)]
    resp = await client.post("/v1/events", json={"events": events}, headers=auth(INGEST_KEY))
    assert (await resp.json())["accepted"] == 2
    await pipeline.flush()


async def test_every_user_route_refuses_another_users_token(
    client: TestClient, pipeline: Pipeline
) -> None:
    await seed(client, pipeline)
    user_routes = [(m, t) for m, t in routes(client.server.app) if "{user_id}" in t]
    assert ("GET", "/v1/users/{user_id}/courses/{course_id}") in user_routes
    for method, template in user_routes:
        resp = await send(client, method, fill(template, OTHER), bearer(ME))
        assert resp.status == 403, (method, template)
        assert await error_of(resp) == "forbidden_user"
        assert OTHER not in await resp.text()


async def test_a_user_token_reads_its_own_progress(client: TestClient, pipeline: Pipeline) -> None:
    await seed(client, pipeline)
    resp = await client.get(f"/v1/users/{ME}/courses/c-1", headers=bearer(ME))
    assert resp.status == 200
    assert (await resp.json())["user_id"] == ME
    old = bearer(ME, OLD_TOKEN_SECRET)  # the previous secret still verifies during a rollover
    assert (await client.get(f"/v1/users/{ME}/courses/c-1", headers=old)).status == 200


async def test_a_user_token_cannot_use_routes_outside_its_user(client: TestClient) -> None:
    others = [(m, t) for m, t in routes(client.server.app)
              if t.startswith("/v1/") and "{user_id}" not in t and t != "/v1/events"
              and (m, t) not in ANY_USER_TOKEN]
    assert ("PUT", "/v1/courses/{course_id}") in others
    for method, template in others:
        path = fill(template, ME)
        resp = await send(client, method, path, bearer(ME))
        if resp.status != 403:  # a public route answers the same without any credentials
            anonymous = await send(client, method, path, {})
            assert anonymous.status == resp.status, (method, template)
        else:
            assert await error_of(resp) == "insufficient_scope"


async def test_a_batch_with_another_users_event_is_refused_whole(
    client: TestClient, redis_url: str
) -> None:
    events = [event("course_viewed", user_id=ME), event("course_viewed", user_id=OTHER)]
    resp = await client.post("/v1/events", json={"events": events}, headers=bearer(ME))
    assert resp.status == 403
    assert await error_of(resp) == "forbidden_user"
    assert await buffer_is_empty(redis_url)


async def test_a_repeated_user_id_key_cannot_smuggle_another_user(
    client: TestClient, redis_url: str
) -> None:
    ts = event("x")["ts"]
    body = ('{"events": [{"id": "e1", "type": "course_viewed", "user_id": "u-me", '
            f'"course_id": "c-1", "ts": {ts}, "user_id": "u-other"}}]}}')
    resp = await client.post("/v1/events", data=body, headers={
        "Content-Type": "application/json", **bearer(ME)})
    assert resp.status == 403
    assert await buffer_is_empty(redis_url)


async def test_a_user_token_writes_its_own_events(client: TestClient) -> None:
    events = [event("chapter_progress", user_id=ME, chapter_id="ch-1", progress=20)]
    resp = await client.post("/v1/events", json={"events": events}, headers=bearer(ME))
    assert resp.status == 202
    assert (await resp.json())["accepted"] == 1


@pytest.mark.parametrize("headers", [
    {"Authorization": "Bearer " + "e30.e30.AAAA"},
    {"Authorization": "Bearer x.y.z"},
])
async def test_a_forged_token_is_401(client: TestClient, headers: dict[str, str]) -> None:
    resp = await client.get(f"/v1/users/{ME}/courses/c-1", headers=headers)
    assert resp.status == 401
    assert await error_of(resp) in ("invalid_token", "invalid_credentials")


async def test_an_expired_token_is_401(client: TestClient) -> None:
    resp = await client.get(f"/v1/users/{ME}/courses/c-1", headers=bearer(ME, now=1e9))
    assert resp.status == 401
    assert await error_of(resp) == "invalid_token"


@pytest.mark.parametrize(("key", "method", "path", "status"), [
    (READ_KEY, "POST", "/v1/events", 403),
    (READ_KEY, "PUT", "/v1/courses/c-1", 403),
    (INGEST_KEY, "GET", f"/v1/users/{OTHER}/courses/c-1", 403),
    (INGEST_KEY, "PUT", "/v1/courses/c-1", 403),
    (ADMIN_KEY, "GET", f"/v1/users/{OTHER}/courses/c-1", 404),
])
async def test_api_keys_keep_to_their_scopes(
    client: TestClient, key: str, method: str, path: str, status: int
) -> None:
    resp = await send(client, method, path, auth(key))
    assert resp.status == status


PUBLIC_V1 = {("GET", "/v1/certificates/keys"), ("GET", "/v1/certificates/verify/{code}")}
"""The /v1 routes anyone may call: certificate checks (public keys, verify by code)."""


async def test_every_v1_route_refuses_a_missing_or_bad_credential(client: TestClient) -> None:
    public = {(r.method, r.path) for r in ROUTES if r.scope is None and r.path.startswith("/v1/")}
    assert public == PUBLIC_V1  # a public /v1 route is a decision: it is listed above
    forged = bearer(ME, "an-attackers-own-secret-0123456789ab")
    for method, template in routes(client.server.app):
        if not template.startswith("/v1/") or (method, template) in PUBLIC_V1:
            continue
        for headers in ({}, {"Authorization": "Bearer nope"}, forged):
            resp = await send(client, method, fill(template, ME), headers)
            assert resp.status == 401, (method, template, headers)
            assert await error_of(resp) in (
                "missing_credentials", "invalid_credentials", "invalid_token")


async def test_a_gzipped_msgpack_batch_for_another_user_is_refused_too(
    client: TestClient, redis_url: str
) -> None:
    events = [event("course_viewed", user_id=ME), event("course_viewed", user_id=OTHER)]
    body = gzip.compress(msgspec.msgpack.encode({"events": events}))
    resp = await client.post("/v1/events", data=body, headers={
        "Content-Type": "application/msgpack", "Content-Encoding": "gzip", **bearer(ME)})
    assert resp.status == 403
    assert await error_of(resp) == "forbidden_user"
    assert await buffer_is_empty(redis_url)
