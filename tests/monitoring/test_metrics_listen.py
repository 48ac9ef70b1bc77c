"""``/metrics`` of ``waymark serve`` on a listener of its own, away from the public API port."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from devstack.processes import free_port
from devstack.stack import metrics_url
from ingest.app import SERVER_OPTIONS, create_app
from tests.helpers import auth, event
from waymark.settings import Settings, SettingsError, parse_metrics_listen


def test_the_default_is_a_loopback_port_of_its_own() -> None:
    s = Settings.from_env({})
    assert (s.metrics_listen, s.metrics_address, s.metrics_host) == (
        "127.0.0.1:9464", ("127.0.0.1", 9464), "127.0.0.1")
    assert metrics_url(s) == "http://127.0.0.1:9464/metrics"


def test_listen_values() -> None:
    s = Settings.from_env({"WAYMARK_METRICS_LISTEN": "[::1]:9500"})
    assert (s.metrics_address, metrics_url(s)) == (("::1", 9500), "http://[::1]:9500/metrics")
    api = Settings.from_env({"WAYMARK_METRICS_LISTEN": "api", "WAYMARK_HTTP_HOST": "10.0.0.5"})
    assert (api.metrics_address, api.metrics_host) == (None, "10.0.0.5")
    assert metrics_url(api) == "http://10.0.0.5:8080/metrics"
    assert parse_metrics_listen(" 0.0.0.0:9464 ") == "0.0.0.0:9464"


@pytest.mark.parametrize(
    "bad", ["9464", ":9464", "host:", "host:0", "host:70000", "host:x", "apis"])
def test_a_listen_value_that_cannot_be_used_is_refused(bad: str) -> None:
    with pytest.raises(SettingsError, match="WAYMARK_METRICS_LISTEN"):
        Settings.from_env({"WAYMARK_METRICS_LISTEN": bad})


async def scrape(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return r.status, await r.text()


async def test_metrics_leave_the_api_port_for_their_own(settings: Settings) -> None:
    port = free_port()
    # the server's --index 1 adds 1 to the listen port
    app = create_app(settings.replace(metrics_listen=f"127.0.0.1:{port - 1}"), index=1)
    server = TestServer(app)
    await server.start_server(**SERVER_OPTIONS)
    async with TestClient(server) as client:
        assert (await client.get("/metrics")).status == 404
        assert (await client.get("/metrics", headers=auth())).status == 404
        body = {"events": [event("chapter_progress", progress=10)]}
        assert (await client.post("/v1/events", json=body, headers=auth())).status == 202
        status, text = await scrape(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        assert 'waymark_ingest_requests_total{status="202"} 1.0' in text
        assert (await scrape(f"http://127.0.0.1:{port}/health"))[0] == 200
        assert (await scrape(f"http://127.0.0.1:{port}/v1/alerts"))[0] == 404  # only metrics
    with pytest.raises(aiohttp.ClientConnectionError):  # closed with the app
        await scrape(f"http://127.0.0.1:{port}/metrics")


async def test_a_metrics_port_taken_leaves_the_api_serving(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = TestServer(create_app(settings.replace(metrics_listen=f"127.0.0.1:{port}")))
        await server.start_server(**SERVER_OPTIONS)
        async with TestClient(server) as client:
            assert (await client.get("/health")).status == 200
            assert (await client.get("/metrics")).status == 404
