"""The ingest service: a decoded request body in, a batch result out, via the merge buffer."""

from __future__ import annotations

import time

import structlog
from redis.exceptions import RedisError

from buffer.merge_buffer import MergeBuffer
from ingest.body import decode_as
from ingest.erasure import refusals
from ingest.errors import TooLarge, Unavailable
from ingest.metrics import IngestMetrics
from ingest.prepare import decode_events, prepare
from ingest.rules import CourseRulesCache
from waymark.settings import Settings
from waymark_client.wire import BatchResult, RawBatch, to_epoch_ms

log = structlog.get_logger()


class Backpressure:
    """Whether the buffer is over its high-water mark.

    Pending keys per shard come from every write's answer and from a periodic sample of all
    shards (which also sees the workers' drains), so the mark is overshot by at most the
    requests in flight at once.
    """

    def __init__(self, high_water_keys: int) -> None:
        self.high_water_keys = high_water_keys
        self.by_shard: dict[int, int] = {}

    @property
    def pending_keys(self) -> int:
        return sum(self.by_shard.values())

    @property
    def over(self) -> bool:
        return self.pending_keys >= self.high_water_keys


class IngestService:
    def __init__(
        self,
        settings: Settings,
        buffer: MergeBuffer,
        rules: CourseRulesCache,
        metrics: IngestMetrics,
        pressure: Backpressure,
    ) -> None:
        self.settings = settings
        self.buffer = buffer
        self.rules = rules
        self.metrics = metrics
        self.pressure = pressure

    async def ingest(self, fmt: str, body: bytes) -> BatchResult:
        received_ms = int(time.time() * 1000)
        batch = decode_as(fmt, body, RawBatch)
        if len(batch.events) > self.settings.max_events:
            raise TooLarge(
                f"batch has {len(batch.events)} events, the limit is {self.settings.max_events}",
                code="too_many_events",
            )
        if self.pressure.over:
            raise Unavailable(
                "the buffer is over its high-water mark; retry later", code="overloaded"
            )
        events, rejected = decode_events(fmt, batch.events, self.settings.max_event_bytes)
        skew = 0 if batch.sent_at is None else received_ms - to_epoch_ms(batch.sent_at)
        rules = await self.rules.get(ev.course_id for _, ev in events)
        prepared = prepare(
            events, now_ms=received_ms, skew_ms=skew, rules=rules, shard_of=self.buffer.shard_of
        )
        rejected += prepared.rejected
        accepted = duplicates = 0
        if prepared.writes:
            try:
                written = await self.buffer.write(prepared.writes)
            except RedisError as e:
                log.warning("buffer_write_failed", error=type(e).__name__, detail=str(e))
                raise Unavailable("the buffer is unavailable; retry later") from None
            for shard, answer in written.items():
                accepted += answer.flags.count("1")
                duplicates += answer.flags.count("0")
                self.pressure.by_shard[shard] = answer.pending
            rejected += refusals(prepared.writes, written)
        rejected.sort(key=lambda r: r.index)
        m = self.metrics
        m.events.labels("accepted").inc(accepted)
        m.events.labels("duplicate").inc(duplicates)
        m.events.labels("rejected").inc(len(rejected))
        m.batch_events.observe(len(batch.events))
        return BatchResult(accepted=accepted, duplicates=duplicates, rejected=rejected)
