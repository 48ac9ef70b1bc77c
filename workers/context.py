"""What a worker process holds while it runs, typed, instead of arq's dict of string keys.

arq hands every job a ``ctx`` dict; Waymark keeps exactly two entries in it: the
:class:`WorkerConfig` a process starts with and, from ``on_startup`` to ``on_shutdown``, the
:class:`WorkerState` built from it. Jobs reach both through :func:`state`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from arq.connections import ArqRedis

from aggregator.signing import CertificateSigner
from buffer.cluster import RedisClient
from buffer.merge_buffer import MergeBuffer
from monitoring.fleet import WorkerReporter
from waymark.bootstrap import WORKER_REDIS_TIMEOUT_S, cert_signer, open_backends
from waymark.settings import Settings
from workers.flush import BatchFlusher
from workers.metrics import WorkerMetrics
from workers.outbox import relay_forever

CONFIG = "waymark_config"
STATE = "waymark_state"


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker process was asked to run."""

    settings: Settings
    metrics: WorkerMetrics
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the process is asked to stop: running flush jobs finish their batch and end."""
    after_commit: Callable[[], None] | None = None
    """Called between a batch's commit and its acknowledgement (the fault tests' crash point)."""
    cert_signer: CertificateSigner | None = None
    """Signs the certificates this worker issues; built from the settings when not given.
    ``None`` (no ``WAYMARK_CERT_SIGNING_KEY``): no certificate is issued."""

    def __post_init__(self) -> None:
        if self.cert_signer is None:
            object.__setattr__(self, "cert_signer", cert_signer(self.settings))


@dataclass
class WorkerState:
    """A running worker's clients and background tasks."""

    config: WorkerConfig
    redis: RedisClient
    """The buffer's Redis client (arq's own enqueueing client is ``ctx["redis"]``)."""
    pool: asyncpg.Pool[asyncpg.Record]
    buffer: MergeBuffer
    flusher: BatchFlusher
    reporter: WorkerReporter
    background: list[asyncio.Task[Any]]
    resources: contextlib.AsyncExitStack

    @property
    def settings(self) -> Settings:
        return self.config.settings

    @property
    def metrics(self) -> WorkerMetrics:
        return self.config.metrics

    @property
    def stopping(self) -> asyncio.Event:
        return self.config.stopping


def state(ctx: dict[str, Any]) -> WorkerState:
    """The running worker's state, from a job's ``ctx``."""
    found: WorkerState = ctx[STATE]
    return found


async def open_state(
    config: WorkerConfig, schedule: Callable[[WorkerState, ArqRedis], Any], queue: ArqRedis
) -> WorkerState:
    """Open the clients, start the scheduler, the outbox relay and the fleet reporter."""
    settings = config.settings
    resources = contextlib.AsyncExitStack()
    backends = await resources.enter_async_context(open_backends(
        settings,
        pool_size=settings.worker_concurrency,
        # a statement never outlives the lease of the batch it applies
        statement_timeout_ms=settings.lease_s * 1000 // 2,
        redis_timeout_s=WORKER_REDIS_TIMEOUT_S,
    ))
    flusher = BatchFlusher(
        backends.buffer, backends.pool, max_tries=settings.max_tries, stopping=config.stopping,
        after_commit=config.after_commit, on_transient=config.metrics.flush_retries.inc,
        session_gap_ms=settings.session_gap_s * 1000, cert_signer=config.cert_signer,
    )
    reporter = WorkerReporter(backends.redis, config.metrics.name, config.metrics.registry)
    st = WorkerState(config, backends.redis, backends.pool, backends.buffer, flusher,
                     reporter, [], resources)
    st.background.append(asyncio.create_task(schedule(st, queue)))
    st.background.append(asyncio.create_task(
        relay_forever(backends.pool, backends.redis, settings.events_stream)
    ))
    reporter.start()
    return st


async def close_state(st: WorkerState) -> None:
    """Stop the background tasks, give back batches still held, close the clients."""
    await st.reporter.stop()
    for task in st.background:
        task.cancel()
    await asyncio.gather(*st.background, return_exceptions=True)
    for batch in list(st.flusher.held.values()):  # cut short: another worker takes it now
        with contextlib.suppress(Exception):
            await st.buffer.release(batch)
    await st.resources.aclose()
