"""A database of its own per test (an old schema, a restored copy), on the session's server."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest

from devstack.servers import PostgresServer


def with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
async def fresh_database(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """An empty database, dropped after the test (no migration applied)."""
    name = f"ops_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(postgres_server.url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield with_database(postgres_server.url, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
