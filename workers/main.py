"""The arq worker: flush jobs per shard, catalog recomputes, and the flush scheduler.

Each worker process runs a scheduler task that looks at every shard a few times a second and
enqueues ``flush_shard(shard)`` with the job id ``flush:<shard>:<second>`` (arq refuses a
duplicate id, so a busy shard gets at most one queued job per second). A flush job takes the
shard's lock in Redis — an expiring token, so a worker that dies frees it within seconds — and
drains due keys in leased batches until the shard has none left (or its time slice is used),
applying each batch in one PostgreSQL transaction before acknowledging it. While fewer than
``WAYMARK_FLUSH_MIN_KEYS`` keys are due, none urgent, and the oldest became due less than
``WAYMARK_FLUSH_LINGER_MS`` ago, the job ends (``lingering``) and the shard's next job takes
them: at a high rate a shard is drained in fewer, larger batches, and a batch's fixed
statements cost less per key. The job does not wait in place: a waiting job would hold one of
the worker's ``WAYMARK_WORKER_CONCURRENCY`` slots that other shards' jobs need. Jobs are serialized
with msgpack, never pickle.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog
from arq.connections import ArqRedis, RedisSettings
from arq.cron import cron
from arq.worker import Worker, func
from prometheus_client import start_http_server

from aggregator import ledger, path_progress
from aggregator.achievement_backfill import backfill
from aggregator.recompute import recompute_catalog
from aggregator.statistics import analyze_new_tables
from waymark.settings import Settings, SettingsError
from workers.context import CONFIG, STATE, WorkerConfig, WorkerState, close_state, open_state, state
from workers.flush import PoisonPending
from workers.metrics import WorkerMetrics

log = structlog.get_logger()
FLUSH_SLICE_S = 2.0
SHARD_LOCK_MS = 5000
RECOMPUTE_BATCH = 500
RECOMPUTE_PAUSE_S = 0.01


async def flush_shard(ctx: dict[str, Any], shard: int) -> int:
    """Drain and apply due batches of ``shard``; return how many keys were applied.

    The shard lock (renewed per batch, expiring on its own if this process dies) keeps two
    jobs off one shard; a job that finds it taken returns at once. A job that applied anything
    ends with one canonical ``flush_job`` line; every line logged while a batch is in hand
    carries its ``batch_id``, and every line of the job its ``job_id`` and ``shard``.
    """
    st = state(ctx)
    token = uuid.uuid4().hex
    with structlog.contextvars.bound_contextvars(job_id=ctx.get("job_id"), shard=shard):
        if not await st.buffer.lock_shard(shard, token, SHARD_LOCK_MS):
            return 0
        report = FlushReport(time.perf_counter())
        try:
            await _flush_locked(st, shard, token, report)
        finally:
            await st.buffer.unlock_shard(shard, token)
            report.log()
        return report.keys


@dataclass
class FlushReport:
    """What one flush job did: the fields of its canonical log line."""

    started: float
    batches: int = 0
    keys: int = 0
    dead: int = 0
    redelivered: int = 0
    ended: str = "drained"
    """``drained`` (no due key left), ``lingering`` (too few due yet: see the module
    docstring), ``slice_used``, ``stopping``, ``lock_lost`` or ``poison_pending`` (a failing key
    waits for its next try)."""

    def log(self) -> None:
        level = log.info if self.batches else log.debug
        level("flush_job", batches=self.batches, keys=self.keys, dead=self.dead,
              redelivered=self.redelivered, ended=self.ended,
              duration_ms=round((time.perf_counter() - self.started) * 1000, 1))


async def _flush_locked(st: WorkerState, shard: int, token: str, report: FlushReport) -> None:
    buffer, settings, metrics, flusher = st.buffer, st.settings, st.metrics, st.flusher
    deadline = time.monotonic() + FLUSH_SLICE_S
    while True:
        if time.monotonic() >= deadline or st.stopping.is_set():
            report.ended = "stopping" if st.stopping.is_set() else "slice_used"
            return
        if not await buffer.lock_shard(shard, token, SHARD_LOCK_MS):
            report.ended = "lock_lost"
            return
        batch = await buffer.reclaim(shard) or await buffer.drain_ready(
            shard, settings.flush_batch, min_keys=settings.flush_min_keys,
            linger_ms=settings.flush_linger_ms)
        if batch is None:
            return
        if isinstance(batch, float):  # too few keys due yet: the shard's next job takes them
            report.ended = "lingering"
            return
        start = time.perf_counter()
        with structlog.contextvars.bound_contextvars(batch_id=batch.batch_id):
            try:
                outcome = await flusher.flush(batch)
            except PoisonPending:
                metrics.flush_errors.inc()
                report.ended = "poison_pending"
                return  # re-delivered with the same id after a backoff
        committed_ms = time.time() * 1000
        metrics.event_lag.observe_many(max(0.0, committed_ms - accepted) / 1000
                                       for result in outcome.results
                                       for accepted in result.accepted_ms)
        metrics.applied(outcome.results, outcome.dead)
        metrics.flush_seconds.observe(time.perf_counter() - start)
        metrics.flush_batch_keys.observe(len(batch.entries))
        report.batches += 1
        report.keys += len(batch.entries)
        report.dead += outcome.dead
        report.redelivered += batch.redelivered


async def prune_ledger(ctx: dict[str, Any]) -> int:
    """Forget applied batch ids past their retention (a cron job)."""
    async with state(ctx).pool.acquire() as conn:
        return await ledger.prune(conn)


async def first_statistics(ctx: dict[str, Any]) -> list[str]:
    """Analyze the tables a new database filled before autovacuum did (a cron job)."""
    async with state(ctx).pool.acquire() as conn:
        analyzed = await analyze_new_tables(conn)
    if analyzed:
        log.info("tables_analyzed", tables=analyzed)
    return analyzed


async def recompute_course(ctx: dict[str, Any], course_id: str, version: int) -> int:
    """Recompute the rollup of every learner of ``course_id`` in throttled batches."""
    done = await recompute_catalog(
        state(ctx).pool, course_id, version, batch=RECOMPUTE_BATCH, pause_s=RECOMPUTE_PAUSE_S,
        signer=state(ctx).config.cert_signer,
    )
    log.info("course_recomputed", course_id=course_id, version=version, learners=done)
    return done


async def backfill_achievement(ctx: dict[str, Any], achievement_id: str, version: int) -> int:
    """Apply a new or changed achievement definition to every learner, in batches."""
    st = state(ctx)

    def progress(n: int) -> None:
        st.metrics.achievement_backfill.inc(n)
        log.info("achievement_backfill_progress", achievement_id=achievement_id, learners=n)

    done = await backfill(st.pool, achievement_id, version, batch=RECOMPUTE_BATCH,
                          pause_s=RECOMPUTE_PAUSE_S, progress=progress)
    log.info("achievement_backfilled", achievement_id=achievement_id, version=version,
             learners=done)
    return done


async def recompute_path(ctx: dict[str, Any], path_id: str) -> int:
    """Refresh the stored path progress of every learner of a changed path's courses, and
    give those who already qualify its milestone, ``paths_completed`` awards and certificate."""
    st = state(ctx)
    done = await path_progress.recompute_path(st.pool, path_id, st.config.cert_signer)
    log.info("path_recomputed", path_id=path_id, learners=done)
    return done


async def _schedule(st: WorkerState, queue: ArqRedis) -> None:
    interval = st.settings.scheduler_interval_ms / 1000
    task = asyncio.current_task()
    while True:
        if task is not None and task.cancelling():
            raise asyncio.CancelledError  # asked to stop, even if a client swallowed it
        try:
            for shard in await st.buffer.shards_with_work():
                # One job id per shard and second: never two queued at once, and a job lost
                # with a dead worker blocks its shard for a second, not for arq's job timeout.
                job_id = f"flush:{shard}:{int(time.time())}"
                await queue.enqueue_job("flush_shard", shard, _job_id=job_id)
            st.metrics.heartbeat.set(time.time())
        except Exception as e:  # Redis away: try again next tick
            log.warning("schedule_failed", error=type(e).__name__)
        await asyncio.sleep(interval)


async def startup(ctx: dict[str, Any]) -> None:
    """arq's ``on_startup``: build the worker's state from its config."""
    ctx[STATE] = await open_state(ctx[CONFIG], _schedule, ctx["redis"])


async def shutdown(ctx: dict[str, Any]) -> None:
    """arq's ``on_shutdown``; safe to call twice or after a failed startup."""
    st: WorkerState | None = ctx.pop(STATE, None)
    if st is not None:
        await close_state(st)


def create_worker(config: WorkerConfig, *, handle_signals: bool = True) -> Worker:
    settings = config.settings
    assert settings.queue_url is not None
    return Worker(
        functions=[func(flush_shard, max_tries=1000), func(recompute_course, max_tries=5),
                   func(backfill_achievement, max_tries=5), func(recompute_path, max_tries=5)],
        cron_jobs=[cron(prune_ledger, minute=set(range(0, 60, 10)), unique=True),
                   cron(first_statistics, second={0, 15, 30, 45}, unique=True)],
        redis_settings=RedisSettings.from_dsn(settings.queue_url),
        on_startup=startup,
        on_shutdown=shutdown,
        ctx={CONFIG: config},
        max_jobs=settings.worker_concurrency,
        keep_result=0,
        poll_delay=0.05,
        job_timeout=600,
        job_serializer=msgspec.msgpack.encode,
        job_deserializer=msgspec.msgpack.decode,
        handle_signals=handle_signals,
    )


def run(
    settings: Settings, index: int = 0, *, after_commit: Callable[[], None] | None = None
) -> None:
    """Run one worker process until SIGINT/SIGTERM."""
    metrics = WorkerMetrics.create(name=str(index))
    port = settings.worker_metrics_port + index
    start_http_server(port, addr=settings.metrics_host, registry=metrics.registry)
    log.info("worker_started", index=index, metrics=f"http://{settings.metrics_host}:{port}/metrics")
    if not settings.cert_signing_key:
        log.warning("certificates_disabled", reason="WAYMARK_CERT_SIGNING_KEY is not set")
    asyncio.run(_run_until_signal(settings, metrics, after_commit))


async def _run_until_signal(
    settings: Settings, metrics: WorkerMetrics, after_commit: Callable[[], None] | None
) -> None:
    """Run until SIGINT/SIGTERM, then stop gracefully within ``settings.shutdown_s``.

    No new job starts; running flush jobs finish the batch in hand and drain no more; what is
    still running at the deadline is cancelled and its leased batches released at once, so
    another worker takes them without waiting for the lease to expire. If the worker loop
    itself fails (Redis gone), it is started again after a pause instead of ending the process;
    a :class:`SettingsError` at start-up (``WAYMARK_SHARDS`` against the buffer's) ends it.
    """
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    pause = 0.5
    while not stopping.is_set():
        config = WorkerConfig(settings, metrics, stopping, after_commit)
        worker = create_worker(config, handle_signals=False)
        main = asyncio.create_task(worker.async_run())
        stop = asyncio.create_task(stopping.wait())
        await asyncio.wait({main, stop}, return_when=asyncio.FIRST_COMPLETED)
        error = main.exception() if main.done() and not main.cancelled() else None
        await _stop_worker(worker, main, stop, settings.shutdown_s)
        if isinstance(error, SettingsError):
            raise error  # a setting to fix (WAYMARK_SHARDS): starting again would not help
        if error is not None and not stopping.is_set():
            log.warning("worker_loop_failed", error=repr(error), restart_in_s=pause)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), pause)
            pause = min(pause * 2, 10.0)
    log.info("worker_stopped")


async def _stop_worker(
    worker: Worker, main: asyncio.Task[None], stop: asyncio.Task[Any], grace_s: float
) -> None:
    worker.allow_pick_jobs = False
    if not main.done():
        worker.ctx[CONFIG].stopping.set()
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
