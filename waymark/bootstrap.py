"""The one wiring point for back-end clients: every process builds them here, once.

The HTTP server, the workers and the monitor each open the same three things — a Redis client,
a PostgreSQL pool and the merge buffer over that client — with the settings of the process;
they differ only in pool size, statement timeout and how fast a Redis call may fail. Each is
closed in reverse order of creation when the process stops. Opening the buffer checks
``WAYMARK_SHARDS`` against the count the buffer in Redis was written with (``buffer.layout``):
a mismatch while the buffer holds keys is a :class:`SettingsError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import msgspec
import structlog
from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from aggregator.db import close_pool
from aggregator.db import create_pool as create_pg_pool
from aggregator.signing import CertificateSigner, load_signer
from buffer.cluster import RedisClient, ReplicaWait, SafeCluster, is_cluster
from buffer.layout import ShardCountMismatch, claim_shard_count
from buffer.merge_buffer import MergeBuffer
from waymark.settings import Settings, SettingsError

log = structlog.get_logger()

FAST_REDIS_TIMEOUT_S = 1.0
"""An HTTP server answers 503 within about a second when Redis is away."""
WORKER_REDIS_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Backends:
    """The clients one process holds for its whole life."""

    redis: RedisClient
    pool: asyncpg.Pool[asyncpg.Record]
    buffer: MergeBuffer


async def redis_client(
    settings: Settings, *, timeout_s: float = FAST_REDIS_TIMEOUT_S, max_connections: int = 256
) -> RedisClient:
    """A client for ``REDIS_URL`` that gives up on a call after ``timeout_s``.

    A URL naming a node of a Redis Cluster gets a cluster client, which finds the other nodes
    from it and follows slots as they move.
    """
    if settings.redis_url is None:
        raise ValueError("REDIS_URL is not set")
    url = settings.redis_url
    if await is_cluster(url, timeout_s=max(timeout_s, 5.0)):
        cluster: RedisCluster = SafeCluster.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            max_connections=max_connections,
        )
        return cluster
    client: Redis = Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
        health_check_interval=10, max_connections=max_connections,
    )
    return client


def merge_buffer(redis: RedisClient, settings: Settings) -> MergeBuffer:
    """The merge buffer over ``redis``, laid out as ``settings`` say."""
    return MergeBuffer(
        redis,
        shards=settings.shards,
        merge_window_ms=settings.merge_window_ms,
        dedup_window_s=settings.dedup_window_s,
        lease_s=settings.lease_s,
        wait=ReplicaWait(settings.redis_wait_replicas, settings.redis_wait_timeout_ms),
        replay_retention_s=settings.replay_retention_s,
    )


def cert_signer(settings: Settings) -> CertificateSigner | None:
    """The certificate signer of ``WAYMARK_CERT_SIGNING_KEY``; none when no key is configured."""
    if not settings.cert_signing_key:
        return None
    return load_signer(settings.cert_signing_key, settings.cert_retired_keys)


async def job_queue(settings: Settings) -> ArqRedis:
    """arq's client for enqueueing jobs; jobs travel as msgpack, never pickle.

    arq needs one Redis (its job, queue and result keys share no hash tag and it runs
    MULTI/EXEC over them), so with a cluster the queue takes ``WAYMARK_QUEUE_REDIS_URL``.
    """
    if settings.queue_url is None:
        raise ValueError("REDIS_URL is not set")
    return await create_pool(
        RedisSettings.from_dsn(settings.queue_url),
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
    redis = await redis_client(settings, timeout_s=redis_timeout_s)
    if isinstance(redis, RedisCluster) and settings.queue_redis_url is None:
        await redis.aclose()
        raise SettingsError(
            "REDIS_URL is a Redis Cluster: set WAYMARK_QUEUE_REDIS_URL to a single Redis for "
            "the job queue (arq runs MULTI/EXEC over keys a cluster keeps on different nodes)"
        )
    try:
        await _claim_shards(redis, settings.shards)
        pool = await create_pg_pool(
            settings.database_url, max_size=pool_size, statement_timeout_ms=statement_timeout_ms
        )
        try:
            buffer = merge_buffer(redis, settings)
            try:
                yield Backends(redis, pool, buffer)
            finally:
                await buffer.aclose()
        finally:
            await close_pool(pool)
    finally:
        await redis.aclose()


async def _claim_shards(redis: RedisClient, shards: int) -> None:
    """Check ``WAYMARK_SHARDS`` against the buffer's recorded count (``buffer.layout``)."""
    try:
        replaced = await claim_shard_count(redis, shards)
    except ShardCountMismatch as e:
        raise SettingsError(str(e)) from e
    if replaced is not None:
        log.warning("buffer_shards_changed", was=replaced, now=shards)
