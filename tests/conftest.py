"""Fixtures shared by the suite: real servers (``tests.servers``), the app and a pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ingest.app import SERVER_OPTIONS, create_app
from tests.pipeline import Pipeline
from waymark.settings import Settings, parse_api_keys

pytest_plugins = ["tests.servers"]

ADMIN_KEY = "test-admin-secret"
INGEST_KEY = "test-ingest-secret"
READ_KEY = "test-read-secret"
CERT_SIGNING_KEY = "dGVzdC1jZXJ0aWZpY2F0ZS1zaWduaW5nLWtleS0zMmI"
"""A fixed Ed25519 private key (base64url of 32 bytes): the tests always sign certificates."""
API_KEYS = f"admin:{ADMIN_KEY}:ingest+read+admin,ingest:{INGEST_KEY}:ingest,reader:{READ_KEY}:read"


@pytest.fixture
def settings(redis_url: str, database_url: str) -> Settings:
    """Settings against the test servers; flushing waits for no merge window and no lingering
    unless a test asks.

    ``/metrics`` is on the app's own port here (``api``), so the tests scrape it through
    ``client``; ``tests/monitoring/test_metrics_listen.py`` checks the separate listener.
    """
    return Settings(
        metrics_listen="api",
        redis_url=redis_url,
        database_url=database_url,
        api_keys=parse_api_keys(API_KEYS),
        merge_window_ms=0,
        flush_linger_ms=0,
        shards=4,
        catalog_cache_s=0.0,
        cert_signing_key=CERT_SIGNING_KEY,
    )


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:
    server = TestServer(create_app(settings))
    await server.start_server(**SERVER_OPTIONS)  # as ``ingest.app.run`` serves it
    async with TestClient(server) as c:
        yield c


@pytest.fixture
async def pipeline(settings: Settings) -> AsyncIterator[Pipeline]:
    async with Pipeline.open(settings) as p:
        yield p
