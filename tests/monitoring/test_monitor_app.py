"""The monitor process's app: its own read-key check and errors in the API's shape."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from monitoring.monitor import create_monitor_app
from tests.conftest import INGEST_KEY, READ_KEY
from tests.helpers import auth
from waymark.settings import Settings


@pytest.fixture
async def monitor(settings: Settings) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_monitor_app(settings))) as c:
        yield c


async def code_of(resp: ClientResponse) -> str:
    return str((await resp.json())["error"]["code"])


async def test_alerts_need_an_api_key_with_the_read_scope(monitor: TestClient) -> None:
    for headers, status, code in (({}, 401, "missing_credentials"),
                                  (auth("not-a-key"), 401, "invalid_credentials"),
                                  (auth(INGEST_KEY), 403, "insufficient_scope")):
        resp = await monitor.get("/v1/alerts", headers=headers)
        assert (resp.status, await code_of(resp)) == (status, code)
    resp = await monitor.get("/v1/alerts", headers=auth(READ_KEY))
    assert resp.status == 200
    assert "WaymarkQueueDepthHigh" in {a["name"] for a in await resp.json()}


async def test_health_and_metrics_are_public_and_unknown_paths_are_json_404s(
    monitor: TestClient,
) -> None:
    assert (await monitor.get("/health")).status == 200
    metrics = await monitor.get("/metrics")
    assert "waymark_alert_threshold" in await metrics.text()
    missing = await monitor.get("/v1/events")
    assert (missing.status, await code_of(missing)) == (404, "not_found")
