"""The one wiring point for back-end clients: every process builds them here, once.

The HTTP server, the workers and the monitor each open the same three things — a Redis client,
a PostgreSQL pool and the merge buffer over that client — with the settings of the process;
they differ only in pool size, statement timeout and how fast a Redis call may fail. Each is
closed in reverse order of creation when the process stops.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import msgspec
from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.asyncio import Redis

from aggregator.db import close_pool
from aggregator.db import create_pool as create_pg_pool
from buffer.merge_buffer import MergeBuffer
from waymark.settings import Settings

FAST_REDIS_TIMEOUT_S = 1.0
"""An HTTP server answers 503 within about a second when Redis is away."""
WORKER_REDIS_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Backends:
    """The clients one process holds for its whole life."""

    redis: Redis
    pool: asyncpg.Pool[asyncpg.Record]
    buffer: MergeBuffer


def redis_client(settings: Settings, *, timeout_s: float = FAST_REDIS_TIMEOUT_S) -> Redis:
    """A Redis client for ``REDIS_URL`` that gives up on a call after ``timeout_s``."""
    if settings.redis_url is None:
        raise ValueError("REDIS_URL is not set")
    client: Redis = Redis.from_url(
        settings.redis_url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=10,
        max_connections=256,
    )
    return client


def merge_buffer(redis: Redis, settings: Settings) -> MergeBuffer:
    """The merge buffer over ``redis``, laid out as ``settings`` say."""
    return MergeBuffer(
        redis,
        shards=settings.shards,
        merge_window_ms=settings.merge_window_ms,
        dedup_window_s=settings.dedup_window_s,
        lease_s=settings.lease_s,
    )


async def job_queue(settings: Settings) -> ArqRedis:
    """arq's client for enqueueing jobs; jobs travel as msgpack, never pickle."""
    if settings.redis_url is None:
        raise ValueError("REDIS_URL is not set")
    return await create_pool(
        RedisSettings.from_dsn(settings.redis_url),
        job_serializer=msgspec.msgpack.encode,
        job_deserializer=msgspec.msgpack.decode,
    )


@contextlib.asynccontextmanager
async def open_backends(
    settings: Settings,
    *,
    pool_size: int = 10,
    statement_timeout_ms: int = 0,
    redis_timeout_s: float = FAST_REDIS_TIMEOUT_S,
) -> AsyncIterator[Backends]:
    """Open Redis, the PostgreSQL pool and the buffer; close them in reverse order."""
    if settings.database_url is None:
        raise ValueError("DATABASE_URL is not set")
    redis = redis_client(settings, timeout_s=redis_timeout_s)
    try:
        pool = await create_pg_pool(
            settings.database_url, max_size=pool_size, statement_timeout_ms=statement_timeout_ms
        )
        try:
            yield Backends(redis, pool, merge_buffer(redis, settings))
        finally:
            await close_pool(pool)
    finally:
        await redis.aclose()
