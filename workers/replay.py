"""``waymark replay``: after PostgreSQL was restored to an earlier point, bring back what it lost.

Redis keeps every applied batch for ``WAYMARK_REPLAY_RETENTION_S`` (``buffer.replay``). Replay
applies each retained batch again, oldest first, through the normal apply step: a batch the
restored ledger holds applies nothing, one it lacks applies as it did the first time (without
the learners erased since, whose tombstones Redis keeps). Domain
events get ids derived from their batch (``aggregator.events.event_ids``), so an event that was
relayed to the stream before the restore comes back with the same id; replay then marks those
outbox rows as sent under the stream number they already have, and the relay sends only the
rest. It holds the relay's lock throughout, so no relay runs in between; the workers must be
stopped (the HTTP servers may keep taking events: they wait in the buffer).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import asyncpg
import structlog

from aggregator import outbox
from aggregator.apply import apply_batch
from aggregator.db import Conn
from aggregator.signing import CertificateSigner
from aggregator.tombstones import drop_erased
from buffer.cluster import RedisClient
from buffer.erasure import tombstones
from buffer.keys import split_keyid
from buffer.merge_buffer import DrainedBatch
from buffer.replay import retained
from waymark.bootstrap import cert_signer, open_backends
from waymark.settings import Settings

log = structlog.get_logger()

STREAM_PAGE = 5000


class ReplayRefused(RuntimeError):
    """Replay cannot run now (the outbox relay holds its lock: a worker is running)."""


@dataclass
class ReplayReport:
    retained: int = 0
    """Batches Redis still held."""
    applied: int = 0
    """Of those, batches the restored database lacked: applied again."""
    already: int = 0
    """Batches the restored ledger holds: nothing to do."""
    marked: int = 0
    """Domain events of the replayed batches found in the stream: marked sent, not sent again."""
    failed_keys: int = 0
    """Keys that failed to apply again (dead-lettered the first time too); see the log."""


async def mark_relayed(conn: Conn, redis: RedisClient, stream: str) -> int:
    """Mark every unsent outbox row whose event is already in ``stream`` as sent under that
    entry's number; return how many."""
    unsent = {str(i) for i in await outbox.unsent_event_ids(conn)}
    if not unsent:
        return 0
    found: list[tuple[str, int]] = []
    start = f"0-{await outbox.last_sent_number(conn) + 1}"
    while True:
        page = await redis.xrange(stream, min=start, count=STREAM_PAGE)
        for entry_id, fields in page:
            event_id = fields.get(b"event_id", b"").decode()
            if event_id in unsent:
                found.append((event_id, int(entry_id.split(b"-")[1])))
        if len(page) < STREAM_PAGE:
            break
        start = "(" + page[-1][0].decode()
    return await outbox.mark_relayed(conn, found)


async def without_erased(redis: RedisClient, shards: int, batch: DrainedBatch) -> DrainedBatch:
    """``batch`` without what an erasure since removed: the restored database may predate the
    erasure and its tombstone, Redis still has the tombstone (``buffer.erasure``)."""
    erased = await tombstones(redis, shards, (split_keyid(k)[0] for k, _ in batch.entries))
    if not erased:
        return batch
    return replace(batch, entries=drop_erased(batch.entries, erased))


async def apply_again(
    pool: asyncpg.Pool[asyncpg.Record], batch: DrainedBatch, settings: Settings,
    signer: CertificateSigner | None, report: ReplayReport,
) -> bool:
    """Apply ``batch`` as the workers did; False if the ledger has it. A batch that fails (it
    held a key the workers dead-lettered: that key waits in the dead letters) is applied key
    by key, as parts ``<id>.rN``, and the keys that fail again are counted and skipped."""
    gap_ms = settings.session_gap_s * 1000
    try:
        async with pool.acquire() as conn:
            return (await apply_batch(conn, batch, gap_ms, signer)).applied
    except Exception as error:  # the apply step's own error, as the flusher meets it
        log.warning("replay_batch_failed", batch_id=batch.batch_id, error=str(error))
    applied = False
    for i, entry in enumerate(batch.entries):
        part = replace(batch, batch_id=f"{batch.batch_id}.r{i}", entries=[entry])
        try:
            async with pool.acquire() as conn:
                applied |= (await apply_batch(conn, part, gap_ms, signer)).applied
        except Exception as error:
            report.failed_keys += 1
            log.error("replay_key_failed", batch_id=batch.batch_id, key=entry[0],
                      error=str(error))
    return applied


async def replay(settings: Settings) -> ReplayReport:
    report = ReplayReport()
    signer = cert_signer(settings)
    async with open_backends(settings, pool_size=2) as backends, \
            backends.pool.acquire() as lock:
        if not await outbox.try_relay_lock(lock):
            raise ReplayRefused("the outbox relay is running: stop every worker first")
        try:
            async for kept in retained(backends.redis, settings.shards):
                report.retained += 1
                batch = await without_erased(backends.redis, settings.shards, kept.batch)
                applied = await apply_again(backends.pool, batch, settings, signer, report)
                if applied:
                    report.applied += 1
                    log.info("replay_applied", batch_id=kept.batch.batch_id,
                             keys=len(kept.batch.entries))
                else:
                    report.already += 1
            async with backends.pool.acquire() as conn:
                report.marked = await mark_relayed(conn, backends.redis, settings.events_stream)
        finally:
            await outbox.release_relay_lock(lock)
    log.info("replay_done", retained=report.retained, applied=report.applied,
             already=report.already, marked=report.marked)
    return report
