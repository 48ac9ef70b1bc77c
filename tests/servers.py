"""Real Redis and PostgreSQL for the test suite (a pytest plugin: ``tests.servers``).

Each server starts once per session on a free port in a temporary directory, and both are
stopped and their directories removed at the end. Tests get a clean state without paying for a
new server: ``redis_url`` flushes Redis first; ``database_url`` truncates every table of the
schema, which is migrated once per session (``migrated_database_url``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.cluster import RedisCluster

from aggregator.db import migrate
from buffer.cluster import is_cluster
from devstack.servers import PostgresServer, RedisServer, free_port

KEEP_TABLES = frozenset({"schema_migrations"})


@pytest.fixture(scope="session")
def server_root() -> Iterator[Path]:
    """A session directory for server data, outside pytest's 0700 tmp tree."""
    root = Path(tempfile.mkdtemp(prefix="waymark-test-"))
    # PostgreSQL runs as the `postgres` user when the tests run as root: it must enter this dir.
    root.chmod(0o755)
    yield root
    shutil.rmtree(root)


@pytest.fixture(scope="session")
def redis_server(server_root: Path) -> Iterator[RedisServer]:
    server = RedisServer(server_root / "redis", free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server(server_root: Path) -> Iterator[PostgresServer]:
    server = PostgresServer(server_root / "pg", free_port(), fast=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session Redis, emptied before the test."""
    redis_server.resume()  # a test that paused it and failed must not hang the next one
    redis_server.start()  # nor one that killed it
    with redis.Redis.from_url(redis_server.url, socket_timeout=10) as client:
        client.flushall()
    return redis_server.url


@pytest.fixture(scope="session")
async def migrated_database_url(postgres_server: PostgresServer) -> str:
    """The session database with every migration applied."""
    await migrate(postgres_server.url)
    return postgres_server.url


@pytest.fixture
async def clean_database(migrated_database_url: str) -> str:
    """The migrated session database with every table but the migration log emptied."""
    await truncate_tables(migrated_database_url)
    return migrated_database_url


@pytest.fixture
def database_url(clean_database: str) -> str:
    return clean_database


async def flush_redis(url: str) -> None:
    """Empty the Redis at ``url``: every master when it is a node of a cluster."""
    if await is_cluster(url):
        async with RedisCluster.from_url(url) as cluster:
            await cluster.flushall(target_nodes=RedisCluster.PRIMARIES)
    else:
        async with AsyncRedis.from_url(url) as single:
            await single.flushall()


async def truncate_tables(dsn: str, keep: frozenset[str] = KEEP_TABLES) -> list[str]:
    """Empty every table in schema ``public`` except ``keep``; return the tables emptied."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        tables = [r["tablename"] for r in rows if r["tablename"] not in keep]
        if tables:
            names = ", ".join('"' + t.replace('"', '""') + '"' for t in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()
    return tables
