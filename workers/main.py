"""The arq worker: flush jobs per shard, catalog recomputes, and the flush scheduler.

Each worker process runs a scheduler task that looks at every shard a few times a second and
enqueues ``flush_shard(shard)`` with the job id ``flush:<shard>``: arq refuses a second job with
the same id while one is queued or running, so a shard is flushed by one job at a time and never
by two workers at once. A flush job drains due keys in leased batches until the shard has none
left (or its time slice is used), applying each batch in one PostgreSQL transaction before
acknowledging it. Jobs are serialized with msgpack, never pickle.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import msgspec
import structlog
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker, func
from prometheus_client import start_http_server
from redis.asyncio import Redis

from aggregator.catalog import learner_pairs
from aggregator.rollup import recompute_courses
from waymark.buffer import MergeBuffer
from waymark.db import close_pool, create_pool
from waymark.settings import Settings
from workers.apply import apply_batch
from workers.metrics import WorkerMetrics

log = structlog.get_logger()
FLUSH_SLICE_S = 2.0
RECOMPUTE_BATCH = 500
RECOMPUTE_PAUSE_S = 0.01


async def flush_shard(ctx: dict[str, Any], shard: int) -> int:
    """Drain and apply due batches of ``shard``; return how many keys were applied."""
    buffer: MergeBuffer = ctx["buffer"]
    settings: Settings = ctx["settings"]
    metrics: WorkerMetrics = ctx["metrics"]
    deadline = time.monotonic() + FLUSH_SLICE_S
    applied = 0
    while time.monotonic() < deadline:
        batch = await buffer.reclaim(shard) or await buffer.drain(shard, settings.flush_batch)
        if batch is None:
            break
        start = time.perf_counter()
        try:
            async with ctx["pool"].acquire() as conn:
                result = await apply_batch(conn, batch)
        except Exception:
            metrics.flush_errors.inc()
            log.exception("flush_failed", shard=shard, batch_id=batch.batch_id)
            break  # the lease expires and the batch is re-delivered with the same id
        await buffer.ack(batch)
        committed_ms = time.time() * 1000
        for accepted in result.accepted_ms:
            metrics.event_lag.observe(max(0.0, committed_ms - accepted) / 1000)
        metrics.flush_seconds.observe(time.perf_counter() - start)
        metrics.flush_batch_keys.observe(len(batch.entries))
        applied += len(batch.entries)
        log.debug(
            "batch_applied", shard=shard, batch_id=batch.batch_id, keys=len(batch.entries),
            fresh=result.applied, redelivered=batch.redelivered,
        )
    return applied


async def recompute_course(ctx: dict[str, Any], course_id: str, version: int) -> int:
    """Recompute the rollup of every learner of ``course_id`` in throttled batches."""
    pool = ctx["pool"]
    after, done = "", 0
    while True:
        async with pool.acquire() as conn:
            users = await learner_pairs(conn, course_id, after, RECOMPUTE_BATCH)
            if not users:
                break
            async with conn.transaction():
                await recompute_courses(conn, [(u, course_id) for u in users])
        done += len(users)
        after = users[-1]
        await asyncio.sleep(RECOMPUTE_PAUSE_S)
    log.info("course_recomputed", course_id=course_id, version=version, learners=done)
    return done


async def _schedule(ctx: dict[str, Any]) -> None:
    buffer: MergeBuffer = ctx["buffer"]
    queue: ArqRedis = ctx["redis"]
    metrics: WorkerMetrics = ctx["metrics"]
    interval = ctx["settings"].scheduler_interval_ms / 1000
    while True:
        try:
            for shard in await buffer.shards_with_work():
                await queue.enqueue_job("flush_shard", shard, _job_id=f"flush:{shard}")
            metrics.heartbeat.set(time.time())
        except Exception as e:  # Redis away: try again next tick
            log.warning("schedule_failed", error=type(e).__name__)
        await asyncio.sleep(interval)


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    assert settings.redis_url is not None and settings.database_url is not None
    ctx["pool"] = await create_pool(settings.database_url, max_size=settings.worker_concurrency)
    ctx["buffer_redis"] = redis = Redis.from_url(settings.redis_url, socket_timeout=10)
    ctx["buffer"] = MergeBuffer(
        redis,
        shards=settings.shards,
        merge_window_ms=settings.merge_window_ms,
        dedup_window_s=settings.dedup_window_s,
        lease_s=settings.lease_s,
    )
    ctx["scheduler"] = asyncio.create_task(_schedule(ctx))


async def shutdown(ctx: dict[str, Any]) -> None:
    task = ctx.get("scheduler")
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if "pool" in ctx:
        await close_pool(ctx["pool"])
    if "buffer_redis" in ctx:
        await ctx["buffer_redis"].aclose()


def create_worker(settings: Settings, metrics: WorkerMetrics) -> Worker:
    assert settings.redis_url is not None
    return Worker(
        functions=[func(flush_shard, max_tries=1000), func(recompute_course, max_tries=5)],
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        ctx={"settings": settings, "metrics": metrics},
        max_jobs=settings.worker_concurrency,
        keep_result=0,
        poll_delay=0.05,
        job_timeout=600,
        job_serializer=msgspec.msgpack.encode,
        job_deserializer=msgspec.msgpack.decode,
        handle_signals=True,
    )


def run(settings: Settings, index: int = 0) -> None:
    """Run one worker process until SIGINT/SIGTERM."""
    metrics = WorkerMetrics.create()
    port = settings.worker_metrics_port + index
    start_http_server(port, addr=settings.http_host, registry=metrics.registry)
    log.info("worker_started", index=index, metrics=f"http://{settings.http_host}:{port}/metrics")
    create_worker(settings, metrics).run()
