"""The shared core of both clients: queue, merge, batching, seq numbers, spool, counters.

It does no network I/O and never waits; it is not thread-safe. ``ProgressClient`` calls it
under one lock from the caller's threads and its sender thread; ``AsyncProgressClient`` calls
it from one event loop. Invariants:

- Events leave in the order they were queued, one batch in flight at a time, so ``seq`` grows
  along the wire as the server expects.
- An event that entered a batch is sealed: it is never merged into again, and its id, seq and
  content stay fixed across every retry, deferral and restart.
- Tickets count queued events; ``settled_through()`` is the highest ticket below which every
  event has been answered for (delivered, refused or given up) — what ``flush()`` waits on.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields

import msgspec

from waymark_client.wire import ChapterProgress, Event, to_epoch_ms

from . import codec
from .delivery import Delivered, Delivery, Outcome
from .errors import ClientClosed, WaymarkClientError
from .merge import CourseKey, breaks_whole_course, chapter_of, course_key, merge_progress
from .options import SERVER_MAX_EVENTS, ClientOptions
from .policy import flush_due, seconds_until_due
from .spool import Spool, SpoolError

log = logging.getLogger("waymark.client")

Report = tuple[WaymarkClientError, list[Event]]
"""Arguments for ``on_error``."""

# source_id, seq and their JSON punctuation, added to an event's size once they are stamped.
_STAMP_BYTES = 64 + 40
_DROP_LOG_EVERY_S = 10.0

# Spool handles inherited through fork(): SQLite forbids using or closing them in the child,
# and letting them be garbage-collected would close them, so the child keeps them untouched.
_inherited_after_fork: list[Spool] = []


@dataclass(slots=True, eq=False)
class _Entry:
    event: Event
    size: int
    ticket: int
    enqueued_at: float
    first_ms: int
    row: int | None = None


@dataclass(slots=True)
class ClientStats:
    """Counters since the client started (or since ``fork()`` in a child)."""

    queued: int = 0
    """Events waiting or in flight now."""
    enqueued: int = 0
    """Events taken by ``track()`` and the helpers."""
    merged: int = 0
    """Progress events folded into a pending one of the same chapter."""
    dropped: int = 0
    """Events refused because the queue was full."""
    batches: int = 0
    """Requests the server answered with 2xx."""
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0
    """Events given up: final 4xx, retry budget spent without a spool, closed before sent."""
    retries: int = 0
    deferred: int = 0
    """Events whose batch ran out of retry budget and stayed in the spool for later."""
    spool_errors: int = 0


class Pipeline:
    """Pending events from ``admit()`` to ``settle()``."""

    def __init__(self, options: ClientOptions, clock: Callable[[], float] = time.monotonic) -> None:
        self.options = options
        self._clock = clock
        self._reset()

    def _reset(self) -> None:
        self._pending: deque[_Entry] = deque()
        self._inflight: list[_Entry] | None = None
        self._tails: dict[CourseKey, dict[str, _Entry]] = {}
        self._bytes = 0
        self._last_ticket = 0
        self._flush_through = 0
        self._paused_until = 0.0
        self._last_drop_log = -_DROP_LOG_EVERY_S
        self._drops_unlogged = 0
        self._spool: Spool | None = None
        self._spool_tried = False
        self._source_id = uuid.uuid4().hex
        self._next_seq = 1
        self._stats = ClientStats()

    # -- lifecycle -------------------------------------------------------------------------

    def open_spool(self) -> None:
        """Claim a spool slot (once) and queue the events a previous process left in it."""
        if self._spool_tried or self.options.spool_path is None:
            return
        self._spool_tried = True
        try:
            spool = Spool.claim(self.options.spool_path)
            rows = spool.rows()
        except SpoolError as exc:
            self._stats.spool_errors += 1
            log.error("waymark spool unavailable, events stay in memory only: %s", exc)
            return
        self._spool, self._source_id, self._next_seq = spool, spool.source_id, spool.next_seq
        now = self._clock()
        for row, body in rows:
            event = codec.decode_event(body)
            self._last_ticket += 1
            entry = _Entry(event, len(body), self._last_ticket, now, to_epoch_ms(event.ts), row)
            self._pending.append(entry)
            self._bytes += entry.size
        if rows:
            log.info(
                "waymark spool %s: %d event(s) from an earlier run queued", spool.path, len(rows)
            )

    def close_spool(self) -> None:
        """Give the spool slot up; events still in it wait for the next process."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def forget_after_fork(self) -> None:
        """In a child after ``fork()``: the parent's events are the parent's to send."""
        if self._spool is not None:
            _inherited_after_fork.append(self._spool)
        self._reset()

    # -- producer side ---------------------------------------------------------------------

    def has_room(self) -> bool:
        """Whether one more event fits under ``max_queue_size``."""
        return self.queued() < self.options.max_queue_size

    def queued(self) -> int:
        """Events pending or in flight."""
        return len(self._pending) + (len(self._inflight) if self._inflight else 0)

    def admit(self, event: Event, size: int) -> str:
        """Queue a checked event; returns the id that carries it to the server."""
        self._stats.enqueued += 1
        key, chapter = course_key(event), chapter_of(event)
        if breaks_whole_course(event):
            self._tails.pop(key, None)
        elif chapter is not None:
            tails = self._tails.get(key)
            tail = tails.pop(chapter, None) if tails is not None else None
            if isinstance(event, ChapterProgress) and self.options.merge_progress:
                if tail is not None and self._merge_into(tail, event, size):
                    self._tails.setdefault(key, {})[chapter] = tail
                    return tail.event.id
                entry = self._append(event, size)
                self._tails.setdefault(key, {})[chapter] = entry
                return entry.event.id
        return self._append(event, size).event.id

    def drop(self) -> None:
        """Count (and log, at most every few seconds) an event refused on a full queue."""
        self._stats.dropped += 1
        self._drops_unlogged += 1
        now = self._clock()
        if now - self._last_drop_log >= _DROP_LOG_EVERY_S:
            log.warning(
                "waymark queue full (max_queue_size=%d, on_full=%s): "
                "dropped %d event(s), %d in all",
                self.options.max_queue_size,
                self.options.on_full,
                self._drops_unlogged,
                self._stats.dropped,
            )
            self._last_drop_log, self._drops_unlogged = now, 0

    def _merge_into(self, tail: _Entry, event: ChapterProgress, size: int) -> bool:
        assert isinstance(tail.event, ChapterProgress)
        merged = merge_progress(
            tail.event,
            event,
            span_start_ms=tail.first_ms,
            window_ms=int(self.options.merge_window * 1000),
        )
        if merged is None:
            return False
        tail.event = merged
        tail.first_ms = min(tail.first_ms, to_epoch_ms(event.ts))
        self._bytes += max(0, size + _STAMP_BYTES - tail.size)
        tail.size = max(tail.size, size + _STAMP_BYTES)
        self._stats.merged += 1
        if tail.row is not None and self._spool is not None:
            try:
                self._spool.replace(tail.row, codec.encode_event(merged))
            except SpoolError as exc:
                self._spool_failed(exc)
        return True

    def _append(self, event: Event, size: int) -> _Entry:
        seq, self._next_seq = self._next_seq, self._next_seq + 1
        stamped = msgspec.structs.replace(event, source_id=self._source_id, seq=seq)
        row = None
        if self._spool is not None:
            try:
                row = self._spool.insert(seq, codec.encode_event(stamped))
            except SpoolError as exc:
                self._spool_failed(exc)
        self._last_ticket += 1
        entry = _Entry(
            stamped,
            size + _STAMP_BYTES,
            self._last_ticket,
            self._clock(),
            to_epoch_ms(event.ts),
            row,
        )
        self._pending.append(entry)
        self._bytes += entry.size
        return entry

    def _spool_failed(self, exc: SpoolError) -> None:
        self._stats.spool_errors += 1
        log.error("waymark spool write failed, event kept in memory only: %s", exc)

    # -- sender side -----------------------------------------------------------------------

    def _flush_requested(self) -> bool:
        return bool(self._pending) and self._pending[0].ticket <= self._flush_through

    def due(self, now: float) -> bool:
        """Whether a batch should be taken now."""
        if self._inflight is not None or not self._pending:
            return False
        if now < self._paused_until and not self._flush_requested():
            return False
        return self._flush_rule(now)

    def _flush_rule(self, now: float) -> bool:
        opts = self.options
        return flush_due(
            count=len(self._pending),
            nbytes=self._bytes,
            oldest_age=now - self._pending[0].enqueued_at if self._pending else None,
            flush_at=opts.flush_at,
            max_batch_bytes=opts.max_batch_bytes,
            flush_interval=opts.flush_interval,
            flush_requested=self._flush_requested(),
        )

    def wait_hint(self, now: float) -> float | None:
        """Seconds until ``due()`` may turn true by itself; ``None``: only a new event can."""
        if not self._pending:
            return None
        if now < self._paused_until and not self._flush_requested():
            return self._paused_until - now
        if self._flush_rule(now):
            return 0.0
        return seconds_until_due(now - self._pending[0].enqueued_at, self.options.flush_interval)

    def take(self, now: float) -> Delivery | None:
        """The next batch, sealed, within the event and byte limits; ``None`` if not due."""
        if not self.due(now):
            return None
        batch: list[_Entry] = []
        nbytes = codec.ENVELOPE_BYTES
        while self._pending and len(batch) < SERVER_MAX_EVENTS:
            entry = self._pending[0]
            if batch and nbytes + entry.size + 1 > self.options.max_batch_bytes:
                break
            self._pending.popleft()
            self._bytes -= entry.size
            nbytes += entry.size + 1
            batch.append(entry)
            self._seal(entry)
        self._inflight = batch
        return Delivery([e.event for e in batch], self.options, now)

    def _seal(self, entry: _Entry) -> None:
        chapter = chapter_of(entry.event)
        tails = self._tails.get(course_key(entry.event))
        if chapter is not None and tails is not None and tails.get(chapter) is entry:
            del tails[chapter]
            if not tails:
                del self._tails[course_key(entry.event)]

    def settle(self, delivery: Delivery, outcome: Outcome, now: float) -> Report | None:
        """Record what became of the batch in flight; returns what ``on_error`` must hear."""
        batch, self._inflight = self._inflight or [], None
        stats = self._stats
        stats.retries += max(0, delivery.attempts - 1)
        if isinstance(outcome, Delivered):
            stats.batches += 1
            result = outcome.result
            # A 2xx whose body does not parse still means the batch was taken.
            stats.accepted += result.accepted if result.accepted >= 0 else len(batch)
            stats.duplicates += result.duplicates
            stats.rejected += len(result.rejected)
            self._paused_until = 0.0
            self._forget(batch)
            return outcome.rejected
        if outcome.retryable and self._spool is not None:
            # Offline: keep the events (still sealed, same ids and seqs) at the head of the
            # queue and rest before the next try instead of spinning on a dead network.
            self._pending.extendleft(reversed(batch))
            self._bytes += sum(e.size for e in batch)
            self._paused_until = now + self.options.backoff_max
            stats.deferred += len(batch)
            log.warning("waymark: %s; %d event(s) kept in the spool", outcome.error, len(batch))
            return None
        stats.failed += len(batch)
        self._forget(batch)
        log.warning("waymark: %d event(s) not delivered: %s", len(batch), outcome.error)
        return outcome.error, [e.event for e in batch]

    def _forget(self, batch: list[_Entry]) -> None:
        if self._spool is None:
            return
        try:
            self._spool.delete(e.row for e in batch if e.row is not None)
        except SpoolError as exc:
            self._spool_failed(exc)

    def requeue_inflight(self) -> None:
        """Put an interrupted batch back at the head, sealed, to be sent again unchanged."""
        if self._inflight:
            self._pending.extendleft(reversed(self._inflight))
            self._bytes += sum(e.size for e in self._inflight)
        self._inflight = None

    def abandon_pending(self) -> Report | None:
        """At close: events that can no longer be sent; a spool keeps them for the next run."""
        if not self._pending or self._spool is not None:
            return None
        events = [e.event for e in self._pending]
        self._pending.clear()
        self._tails.clear()
        self._bytes = 0
        self._stats.failed += len(events)
        log.warning("waymark closed with %d event(s) not delivered", len(events))
        return ClientClosed(f"{len(events)} event(s) not sent before close"), events

    # -- flush -----------------------------------------------------------------------------

    def request_flush(self) -> int:
        """Ask for everything queued so far to be sent now; returns the ticket to wait for."""
        self._flush_through = self._last_ticket
        return self._last_ticket

    def settled_through(self) -> int:
        """Every event with a ticket up to this one has been answered for."""
        if self._inflight:
            return self._inflight[0].ticket - 1
        if self._pending:
            return self._pending[0].ticket - 1
        return self._last_ticket

    def stats(self) -> ClientStats:
        """A snapshot of the counters."""
        snapshot = ClientStats(
            **{f.name: getattr(self._stats, f.name) for f in fields(ClientStats)}
        )
        snapshot.queued = self.queued()
        return snapshot
