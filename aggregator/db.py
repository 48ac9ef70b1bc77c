"""PostgreSQL access: the pool factory and the migration runner.

Migrations are numbered ``.sql`` files in ``aggregator/migrations``; each is applied once, in its
own transaction, under an advisory lock so that concurrent starters never race. Workers may keep
applying batches meanwhile (an upgrade); a migration that PostgreSQL picks as the victim of a
deadlock with them is rolled back whole and tried again.
"""

from __future__ import annotations

import asyncio
import re
from importlib import resources
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
"""A connection, or one borrowed from a pool."""

_MIGRATION_LOCK = 0x5741594D  # "WAYM"
_DEADLOCK_RETRIES = 5
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration shipped, in order."""
    out = []
    for entry in resources.files("aggregator").joinpath("migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            out.append((int(m.group(1)), entry.name, entry.read_text()))
    return sorted(out)


async def migrate(dsn: str) -> list[str]:
    """Apply pending migrations; return the names of those applied now."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            applied = []
            for version, name, sql in migrations():
                if version in done:
                    continue
                await _apply_one(conn, version, name, sql)
                applied.append(name)
            return applied
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    finally:
        await conn.close()


async def _apply_one(conn: asyncpg.Connection[asyncpg.Record], version: int, name: str,
                     sql: str) -> None:
    for attempt in range(_DEADLOCK_RETRIES):
        try:
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                )
            return
        except asyncpg.DeadlockDetectedError:
            if attempt == _DEADLOCK_RETRIES - 1:
                raise
            await asyncio.sleep(0.1 * 2**attempt)


async def pending_migrations(conn: Conn) -> list[str]:
    """Names of shipped migrations the database has not applied (for ``/ready``)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    done: set[int] = set()
    if exists:
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    return [name for version, name, _ in migrations() if version not in done]


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, statement_timeout_ms: int = 0
) -> asyncpg.Pool[asyncpg.Record]:
    server_settings = {"application_name": "waymark"}
    if statement_timeout_ms:
        server_settings["statement_timeout"] = str(statement_timeout_ms)
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        command_timeout=60,
        server_settings=server_settings,
    )
    assert pool is not None
    return pool


async def close_pool(pool: asyncpg.Pool[asyncpg.Record], timeout_s: float = 5.0) -> None:
    """Close gracefully, but never hang a shutdown on a connection that will not come back."""
    try:
        await asyncio.wait_for(pool.close(), timeout_s)
    except TimeoutError:
        pool.terminate()
