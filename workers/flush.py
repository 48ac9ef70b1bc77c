"""Flushing one leased batch: transient retries, poison isolation, dead letters.

- A transient failure (deadlock, serialization failure, lost connection, PostgreSQL down) is
  retried in place with full-jitter backoff, the lease extended each time; it never counts
  against the poison budget.
- Any other failure splits the batch in halves (``<id>.0``/``<id>.1``) until the failing key is
  alone; every healthy part is applied. A lone failing key counts a try in Redis; below
  ``max_tries`` the batch is left leased and re-delivered after a backoff (parts already applied
  are skipped by the ledger), at ``max_tries`` the key goes to the dead-letter area with its error.
- The batch is acknowledged once every key is applied or dead-lettered.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import structlog

from aggregator.apply import ApplyResult, apply_batch
from aggregator.session_rules import DEFAULT_GAP_MS
from aggregator.signing import CertificateSigner
from buffer.merge_buffer import DrainedBatch, MergeBuffer

log = structlog.get_logger()

TRANSIENT: tuple[type[BaseException], ...] = (
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    ConnectionError,
    OSError,
    TimeoutError,
)
BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 5.0


class PoisonPending(Exception):
    """A lone key failed but still has tries left: re-deliver the batch later."""

    def __init__(self, part_id: str, tries: int) -> None:
        super().__init__(f"{part_id} failed (try {tries})")
        self.tries = tries


@dataclass
class FlushOutcome:
    results: list[ApplyResult] = field(default_factory=list)
    dead: int = 0


def backoff(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Full jitter: uniform in [0, min(cap, base · 2^attempt)]."""
    return float(rand() * min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))


class BatchFlusher:
    """Applies leased batches of one worker process."""

    def __init__(
        self,
        buffer: MergeBuffer,
        pool: asyncpg.Pool[asyncpg.Record],
        *,
        max_tries: int,
        stopping: asyncio.Event,
        on_transient: Callable[[], None] = lambda: None,
        after_commit: Callable[[], None] | None = None,
        session_gap_ms: int = DEFAULT_GAP_MS,
        cert_signer: CertificateSigner | None = None,
    ) -> None:
        self.buffer = buffer
        self.cert_signer = cert_signer
        self.session_gap_ms = session_gap_ms
        self.pool = pool
        self.max_tries = max_tries
        self.stopping = stopping
        self.on_transient = on_transient
        self.after_commit = after_commit
        self.held: dict[str, DrainedBatch] = {}

    async def flush(self, batch: DrainedBatch) -> FlushOutcome:
        """Apply ``batch`` fully, then acknowledge it; raises if it must come back later."""
        self.held[batch.batch_id] = batch
        try:
            out = FlushOutcome()
            await self._part(batch, batch.batch_id, batch.entries, out)
            if self.after_commit is not None:
                self.after_commit()
            await self.buffer.ack(batch)
            return out
        except PoisonPending as e:
            await self.buffer.retry_later(batch, backoff(e.tries + 3))
            raise
        finally:
            self.held.pop(batch.batch_id, None)

    async def _part(
        self, batch: DrainedBatch, part_id: str, entries: list[tuple[str, bytes]],
        out: FlushOutcome,
    ) -> None:
        part = DrainedBatch(batch.shard, part_id, entries, batch.redelivered)
        try:
            out.results.append(await self._with_retries(batch, lambda: self._apply(part)))
            return
        except Exception as e:  # anything not transient: isolate the poison
            error = f"{type(e).__name__}: {e}"
        if len(entries) > 1:
            mid = len(entries) // 2
            await self._part(batch, f"{part_id}.0", entries[:mid], out)
            await self._part(batch, f"{part_id}.1", entries[mid:], out)
            return
        tries = await self.buffer.count_failure(batch.shard, part_id)
        log.warning("batch_part_failed", part_id=part_id, key=entries[0][0], tries=tries,
                    error=error)
        if tries < self.max_tries:
            raise PoisonPending(part_id, tries)
        meta = {"error": error, "tries": tries, "at": time.time(), "batch_id": batch.batch_id}
        await self.buffer.dead_letter(batch, part_id, [entries[0][0]], meta, finish=False)
        out.dead += 1
        log.error("dead_lettered", part_id=part_id, key=entries[0][0], error=error)

    async def _apply(self, part: DrainedBatch) -> ApplyResult:
        async with self.pool.acquire() as conn:
            return await apply_batch(conn, part, self.session_gap_ms, self.cert_signer)

    async def _with_retries(
        self, batch: DrainedBatch, attempt: Callable[[], Awaitable[ApplyResult]]
    ) -> ApplyResult:
        n = 0
        while True:
            try:
                return await attempt()
            except TRANSIENT as e:
                self.on_transient()
                if self.stopping.is_set():
                    raise asyncio.CancelledError from e
                n += 1
                log.warning("flush_retry", batch_id=batch.batch_id, attempt=n,
                            error=f"{type(e).__name__}: {e}")
                await self.buffer.extend(batch)
                await asyncio.sleep(backoff(n))


