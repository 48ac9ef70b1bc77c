"""The arq worker: flush jobs per shard, catalog recomputes, and the flush scheduler.

Each worker process runs a scheduler task that looks at every shard a few times a second and
enqueues ``flush_shard(shard)`` with the job id ``flush:<shard>:<second>`` (arq refuses a
duplicate id, so a busy shard gets at most one queued job per second). A flush job takes the
shard's lock in Redis — an expiring token, so a worker that dies frees it within seconds — and
drains due keys in leased batches until the shard has none left (or its time slice is used),
applying each batch in one PostgreSQL transaction before acknowledging it. Jobs are serialized
with msgpack, never pickle.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from typing import Any

import msgspec
import structlog
from arq.connections import ArqRedis, RedisSettings
from arq.cron import cron
from arq.worker import Worker, func
from prometheus_client import start_http_server
from redis.asyncio import Redis

from aggregator import ledger
from aggregator.db import close_pool, create_pool
from aggregator.recompute import recompute_catalog
from buffer.merge_buffer import MergeBuffer
from monitoring.fleet import WorkerReporter
from waymark.settings import Settings
from workers.flush import BatchFlusher, PoisonPending
from workers.metrics import WorkerMetrics
from workers.outbox import relay_forever

log = structlog.get_logger()
FLUSH_SLICE_S = 2.0
SHARD_LOCK_MS = 5000
RECOMPUTE_BATCH = 500
RECOMPUTE_PAUSE_S = 0.01


async def flush_shard(ctx: dict[str, Any], shard: int) -> int:
    """Drain and apply due batches of ``shard``; return how many keys were applied.

    The shard lock (renewed per batch, expiring on its own if this process dies) keeps two
    jobs off one shard; a job that finds it taken returns at once.
    """
    buffer: MergeBuffer = ctx["buffer"]
    token = uuid.uuid4().hex
    if not await buffer.lock_shard(shard, token, SHARD_LOCK_MS):
        return 0
    try:
        return await _flush_locked(ctx, shard, token)
    finally:
        await buffer.unlock_shard(shard, token)


async def _flush_locked(ctx: dict[str, Any], shard: int, token: str) -> int:
    buffer: MergeBuffer = ctx["buffer"]
    settings: Settings = ctx["settings"]
    metrics: WorkerMetrics = ctx["metrics"]
    flusher: BatchFlusher = ctx["flusher"]
    deadline = time.monotonic() + FLUSH_SLICE_S
    applied = 0
    while time.monotonic() < deadline and not ctx["stopping"].is_set():
        if not await buffer.lock_shard(shard, token, SHARD_LOCK_MS):
            break
        batch = await buffer.reclaim(shard) or await buffer.drain(shard, settings.flush_batch)
        if batch is None:
            break
        start = time.perf_counter()
        try:
            outcome = await flusher.flush(batch)
        except PoisonPending:
            metrics.flush_errors.inc()
            break  # re-delivered with the same id after a backoff
        committed_ms = time.time() * 1000
        for result in outcome.results:
            for accepted in result.accepted_ms:
                metrics.event_lag.observe(max(0.0, committed_ms - accepted) / 1000)
        metrics.applied(outcome.results, outcome.dead)
        metrics.flush_seconds.observe(time.perf_counter() - start)
        metrics.flush_batch_keys.observe(len(batch.entries))
        applied += len(batch.entries)
        log.debug(
            "batch_applied", shard=shard, batch_id=batch.batch_id, keys=len(batch.entries),
            dead=outcome.dead, redelivered=batch.redelivered,
        )
    return applied


async def prune_ledger(ctx: dict[str, Any]) -> int:
    """Forget applied batch ids past their retention (a cron job)."""
    async with ctx["pool"].acquire() as conn:
        return await ledger.prune(conn)


async def recompute_course(ctx: dict[str, Any], course_id: str, version: int) -> int:
    """Recompute the rollup of every learner of ``course_id`` in throttled batches."""
    done = await recompute_catalog(
        ctx["pool"], course_id, version, batch=RECOMPUTE_BATCH, pause_s=RECOMPUTE_PAUSE_S
    )
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
                # One job id per shard and second: never two queued at once, and a job lost
                # with a dead worker blocks its shard for a second, not for arq's job timeout.
                job_id = f"flush:{shard}:{int(time.time())}"
                await queue.enqueue_job("flush_shard", shard, _job_id=job_id)
            metrics.heartbeat.set(time.time())
        except Exception as e:  # Redis away: try again next tick
            log.warning("schedule_failed", error=type(e).__name__)
        await asyncio.sleep(interval)


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    assert settings.redis_url is not None and settings.database_url is not None
    ctx["pool"] = await create_pool(
        settings.database_url,
        max_size=settings.worker_concurrency,
        # a statement never outlives the lease of the batch it applies
        statement_timeout_ms=settings.lease_s * 1000 // 2,
    )
    ctx["buffer_redis"] = redis = Redis.from_url(settings.redis_url, socket_timeout=10)
    ctx["buffer"] = MergeBuffer(
        redis,
        shards=settings.shards,
        merge_window_ms=settings.merge_window_ms,
        dedup_window_s=settings.dedup_window_s,
        lease_s=settings.lease_s,
    )
    ctx.setdefault("stopping", asyncio.Event())
    ctx["flusher"] = BatchFlusher(
        ctx["buffer"], ctx["pool"], max_tries=settings.max_tries, stopping=ctx["stopping"],
        crash_after_commit=settings.fault_crash_after_commit,
        on_transient=ctx["metrics"].flush_retries.inc,
    )
    ctx["scheduler"] = asyncio.create_task(_schedule(ctx))
    ctx["outbox_relay"] = asyncio.create_task(
        relay_forever(ctx["pool"], redis, settings.events_stream)
    )
    ctx["reporter"] = WorkerReporter(redis, ctx["metrics"].name, ctx["metrics"].registry)
    ctx["reporter"].start()


async def shutdown(ctx: dict[str, Any]) -> None:
    if "reporter" in ctx:
        await ctx.pop("reporter").stop()
    relay = ctx.get("outbox_relay")
    if relay is not None:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
    flusher: BatchFlusher | None = ctx.get("flusher")
    if flusher is not None:
        for batch in list(flusher.held.values()):  # cut short: another worker takes it now
            with contextlib.suppress(Exception):
                await ctx["buffer"].release(batch)
    task = ctx.get("scheduler")
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if "pool" in ctx:
        await close_pool(ctx["pool"])
    if "buffer_redis" in ctx:
        await ctx["buffer_redis"].aclose()


def create_worker(
    settings: Settings,
    metrics: WorkerMetrics,
    *,
    stopping: asyncio.Event | None = None,
    handle_signals: bool = True,
) -> Worker:
    assert settings.redis_url is not None
    ctx: dict[str, Any] = {"settings": settings, "metrics": metrics}
    if stopping is not None:
        ctx["stopping"] = stopping
    return Worker(
        functions=[func(flush_shard, max_tries=1000), func(recompute_course, max_tries=5)],
        cron_jobs=[cron(prune_ledger, minute=set(range(0, 60, 10)), unique=True)],
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        ctx=ctx,
        max_jobs=settings.worker_concurrency,
        keep_result=0,
        poll_delay=0.05,
        job_timeout=600,
        job_serializer=msgspec.msgpack.encode,
        job_deserializer=msgspec.msgpack.decode,
        handle_signals=handle_signals,
    )


def run(settings: Settings, index: int = 0) -> None:
    """Run one worker process until SIGINT/SIGTERM."""
    metrics = WorkerMetrics.create(name=str(index))
    port = settings.worker_metrics_port + index
    start_http_server(port, addr=settings.http_host, registry=metrics.registry)
    log.info("worker_started", index=index, metrics=f"http://{settings.http_host}:{port}/metrics")
    asyncio.run(_run_until_signal(settings, metrics))


async def _run_until_signal(settings: Settings, metrics: WorkerMetrics) -> None:
    """Run until SIGINT/SIGTERM, then stop gracefully within ``settings.shutdown_s``.

    No new job starts; running flush jobs finish the batch in hand and drain no more; what is
    still running at the deadline is cancelled and its leased batches released at once, so
    another worker takes them without waiting for the lease to expire. If the worker loop
    itself fails (Redis gone), it is started again after a pause instead of ending the process.
    """
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    pause = 0.5
    while not stopping.is_set():
        worker = create_worker(settings, metrics, stopping=stopping, handle_signals=False)
        main = asyncio.create_task(worker.async_run())
        stop = asyncio.create_task(stopping.wait())
        await asyncio.wait({main, stop}, return_when=asyncio.FIRST_COMPLETED)
        failed = main.done() and not main.cancelled() and main.exception() is not None
        await _stop_worker(worker, main, stop, settings.shutdown_s)
        if failed and not stopping.is_set():
            log.warning("worker_loop_failed", error=repr(main.exception()), restart_in_s=pause)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), pause)
            pause = min(pause * 2, 10.0)
    log.info("worker_stopped")


async def _stop_worker(
    worker: Worker, main: asyncio.Task[None], stop: asyncio.Task[Any], grace_s: float
) -> None:
    worker.allow_pick_jobs = False
    if not main.done():
        worker.ctx["stopping"].set()
    running = [t for t in worker.tasks.values() if not t.done()]
    if running:
        await asyncio.wait(running, timeout=grace_s)
    for t in [*worker.tasks.values(), main, stop]:
        t.cancel()
    await asyncio.gather(*worker.tasks.values(), main, stop, return_exceptions=True)
    with contextlib.suppress(Exception):
        await shutdown(worker.ctx)
    with contextlib.suppress(Exception):
        await worker.pool.aclose()
