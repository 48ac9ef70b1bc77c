"""Reads from a PostgreSQL streaming replica (``DATABASE_READ_URL``), saying how stale they are.

The reads (progress, analytics, quiz and course reports: ``docs/scaling.md`` lists them) take
a connection from the read pool: the replica's when one is configured, else the primary's.
Each answer carries ``Waymark-Read-Lag-Ms``: how far the replica's replay was behind the
primary's last commit when the read began (0 when it had replayed everything it received, and
always 0 on the primary), so a client can tell a fresh read from a stale one. Writes, the
catalog and the ingest path stay on the primary.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

from aggregator.db import Conn, close_pool, create_pool
from ingest.context import POOL, SETTINGS

READ_POOL = web.AppKey("read_pool", asyncpg.Pool)
LAG_HEADER = "Waymark-Read-Lag-Ms"
_LAG = web.RequestKey("read_lag_ms", int)
LAG_SQL = """
SELECT CASE
  WHEN NOT pg_is_in_recovery() THEN 0
  WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
  ELSE coalesce(
    (extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)::bigint, 0)
END
"""


async def read_pool(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context (after the primary's pool): the replica's pool, or the primary's."""
    url = app[SETTINGS].database_read_url
    if url is None:
        app[READ_POOL] = app[POOL]
        yield
        return
    app[READ_POOL] = pool = await create_pool(url, max_size=10)
    try:
        yield
    finally:
        await close_pool(pool)


@contextlib.asynccontextmanager
async def reading(request: web.Request) -> AsyncIterator[Conn]:
    """A read connection; the answer to ``request`` will state the replica's lag."""
    app = request.app
    async with app[READ_POOL].acquire() as conn:
        if app[READ_POOL] is app[POOL]:
            request[_LAG] = 0
        else:
            request[_LAG] = max(0, int(await conn.fetchval(LAG_SQL)))
        yield conn


async def send_read_lag(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: a read names the lag of the copy it was served from."""
    lag = request.get(_LAG)
    if lag is not None:
        response.headers[LAG_HEADER] = str(lag)
