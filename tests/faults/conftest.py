"""Fault tests share the session's servers and put them back as they found them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devstack.servers import PostgresServer, RedisServer
from tests.faults.harness import Stack


@pytest.fixture
async def stack(
    redis_url: str, database_url: str, tmp_path: Path,
    redis_server: RedisServer, postgres_server: PostgresServer,
) -> AsyncIterator[Stack]:
    s = Stack(redis_url, database_url, tmp_path)
    try:
        yield s
    finally:
        s.stop()
        redis_server.resume()
        if not redis_server.running:
            redis_server.start()
        if not postgres_server.running:
            postgres_server.start()
