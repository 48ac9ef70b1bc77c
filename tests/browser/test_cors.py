"""CORS on ``/v1``: preflights and headers for the configured origins only, errors included."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ingest.cors import ALLOW_HEADERS, cors_middleware, parse_origins
from ingest.errors import TooManyRequests, error_middleware
from waymark.settings import Settings

Api = TestClient[web.Request, web.Application]
PLATFORM = "https://learn.example.com"
PREFLIGHT = {"Origin": PLATFORM, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization,content-type"}


async def accepted(request: web.Request) -> web.Response:
    return web.json_response({"accepted": 1}, status=202)


async def limited(request: web.Request) -> web.Response:
    raise TooManyRequests("slow down", retry_after=3)


async def serve(origins: tuple[str, ...]) -> Api:
    app = web.Application(middlewares=[cors_middleware(origins), error_middleware])
    app.router.add_post("/v1/events", accepted)
    app.router.add_get("/v1/limited", limited)
    app.router.add_get("/health", accepted)
    return TestClient(TestServer(app))


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with await serve((PLATFORM, "http://127.0.0.1:5173")) as client:
        yield client


async def test_a_preflight_from_an_allowed_origin_is_answered_without_credentials(
    api: Api,
) -> None:
    resp = await api.options("/v1/events", headers=PREFLIGHT)
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == PLATFORM
    assert resp.headers["Access-Control-Allow-Methods"] == "GET, POST, PUT, DELETE"
    assert resp.headers["Access-Control-Allow-Headers"] == ALLOW_HEADERS
    assert int(resp.headers["Access-Control-Max-Age"]) > 0


async def test_an_answer_to_an_allowed_origin_carries_the_origin_and_vary(api: Api) -> None:
    resp = await api.post("/v1/events", headers={"Origin": PLATFORM})
    assert resp.status == 202
    assert resp.headers["Access-Control-Allow-Origin"] == PLATFORM
    assert "Origin" in resp.headers.getall("Vary")


async def test_a_429_exposes_retry_after_to_the_page(api: Api) -> None:
    resp = await api.get("/v1/limited", headers={"Origin": PLATFORM})
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "3"
    assert resp.headers["Access-Control-Allow-Origin"] == PLATFORM
    exposed = resp.headers["Access-Control-Expose-Headers"].split(", ")
    assert exposed == ["Retry-After", "X-Request-Id", "Waymark-Read-Lag-Ms"]


async def test_an_unknown_route_still_answers_with_cors_headers(api: Api) -> None:
    resp = await api.get("/v1/nope", headers={"Origin": PLATFORM})
    assert resp.status == 404
    assert resp.headers["Access-Control-Allow-Origin"] == PLATFORM


async def test_another_origin_gets_no_cors_headers_and_no_preflight(api: Api) -> None:
    other = {**PREFLIGHT, "Origin": "https://evil.example.com"}
    preflight = await api.options("/v1/events", headers=other)
    assert preflight.status == 405
    assert "Access-Control-Allow-Origin" not in preflight.headers
    resp = await api.post("/v1/events", headers={"Origin": "https://evil.example.com"})
    assert resp.status == 202
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert "Origin" in resp.headers.getall("Vary")


async def test_routes_outside_v1_get_no_cors_headers(api: Api) -> None:
    resp = await api.get("/health", headers={"Origin": PLATFORM})
    assert "Access-Control-Allow-Origin" not in resp.headers


async def test_without_configured_origins_nothing_changes() -> None:
    async with await serve(()) as client:
        preflight = await client.options("/v1/events", headers=PREFLIGHT)
        assert preflight.status == 405
        resp = await client.post("/v1/events", headers={"Origin": PLATFORM})
        assert "Access-Control-Allow-Origin" not in resp.headers
        assert "Vary" not in resp.headers


@pytest.mark.parametrize("bad", ["*", "learn.example.com", "https://learn.example.com/",
                                 "https://learn.example.com/path", "ftp://x.example"])
def test_only_exact_origins_are_accepted_as_configuration(bad: str) -> None:
    with pytest.raises(ValueError, match="not an origin"):
        parse_origins([bad])


def test_origins_are_trimmed_and_compared_without_case() -> None:
    assert parse_origins([" https://Learn.Example.com ", "", "http://[::1]:8080"]) == {
        "https://learn.example.com", "http://[::1]:8080"}


def test_the_setting_lists_the_origins_and_defaults_to_none() -> None:
    env = {"WAYMARK_CORS_ORIGINS": "https://learn.example.com, http://127.0.0.1:5173"}
    assert Settings.from_env(env).cors_origins == (PLATFORM, "http://127.0.0.1:5173")
    assert Settings.from_env({}).cors_origins == ()
