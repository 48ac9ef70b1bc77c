"""The queue-depth sampler: pending keys, oldest pending age, leases and dead letters per shard.

One pipelined round trip per sample, four commands per shard, each O(1) or O(log n): ``ZCARD``
and ``ZRANGE 0 0 WITHSCORES`` of ``due``, ``ZCARD`` of ``leases`` (batches in flight) and of
``deadidx`` (one entry per dead letter; a missing key counts 0). Never ``KEYS`` or ``SCAN``.

Oldest pending age: ``due`` holds when a key is due, not when it arrived. A key that waits for
the merge window is due ``window`` after its first event, so its age is ``now - (due - window)``,
exact. A key that skipped the window (completions, resets) is due at once, so the same formula
over-states its age by at most the merge window. The figure is therefore an upper bound, never
more than ``merge_window_ms`` above the truth, and exact once anything is overdue by a window.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Gauge

from buffer.cluster import RedisClient
from buffer.keys import shard_key


@dataclass(frozen=True, slots=True)
class ShardDepth:
    shard: int
    pending: int
    oldest_due_ms: int | None
    inflight: int
    dead: int


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    taken_ms: int
    merge_window_ms: int
    shards: tuple[ShardDepth, ...]

    @property
    def pending(self) -> int:
        return sum(s.pending for s in self.shards)

    @property
    def inflight(self) -> int:
        return sum(s.inflight for s in self.shards)

    @property
    def dead(self) -> int:
        return sum(s.dead for s in self.shards)

    @property
    def oldest_pending_s(self) -> float:
        dues = [s.oldest_due_ms for s in self.shards if s.oldest_due_ms is not None]
        if not dues:
            return 0.0
        return pending_age_s(self.taken_ms, min(dues), self.merge_window_ms)


def pending_age_s(now_ms: int, due_ms: int, merge_window_ms: int) -> float:
    """Upper bound of how long a key due at ``due_ms`` has waited (see the module docstring)."""
    return max(0.0, (now_ms - (due_ms - merge_window_ms)) / 1000)


async def sample_queue(redis: RedisClient, shards: int, merge_window_ms: int) -> QueueSnapshot:
    """Sample every shard in one pipelined round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        for shard in range(shards):
            pipe.zcard(shard_key(shard, "due"))
            pipe.zrange(shard_key(shard, "due"), 0, 0, withscores=True)
            pipe.zcard(shard_key(shard, "leases"))
            pipe.zcard(shard_key(shard, "deadidx"))
        res = await pipe.execute()
        now_ms = int(time.time() * 1000)
    out = []
    for shard in range(shards):
        pending, first, inflight, dead = res[4 * shard : 4 * shard + 4]
        oldest = int(first[0][1]) if first else None
        out.append(ShardDepth(shard, int(pending), oldest, int(inflight), int(dead)))
    return QueueSnapshot(now_ms, merge_window_ms, tuple(out))


@dataclass(frozen=True)
class QueueGauges:
    """The ``waymark_queue_*`` gauges, registered in the registry of the process that samples."""

    pending_keys: Gauge
    shard_pending_keys: Gauge
    oldest_pending_seconds: Gauge
    inflight_batches: Gauge
    dead_letter_batches: Gauge
    sampled_at: Gauge

    @classmethod
    def create(cls, r: CollectorRegistry) -> QueueGauges:
        return cls(
            pending_keys=Gauge(
                "waymark_queue_pending_keys", "Keys waiting in the merge buffer", registry=r
            ),
            shard_pending_keys=Gauge(
                "waymark_queue_shard_pending_keys", "Keys waiting in the merge buffer, by shard",
                ["shard"], registry=r,
            ),
            oldest_pending_seconds=Gauge(
                "waymark_queue_oldest_pending_seconds",
                "Age of the oldest waiting key (upper bound, within one merge window)",
                registry=r,
            ),
            inflight_batches=Gauge(
                "waymark_queue_inflight_batches", "Batches leased to a worker, not yet acked",
                registry=r,
            ),
            dead_letter_batches=Gauge(
                "waymark_queue_dead_letter_batches", "Batches set aside after failing too often",
                registry=r,
            ),
            sampled_at=Gauge(
                "waymark_queue_sampled_timestamp_seconds",
                "When the queue was last sampled successfully", registry=r,
            ),
        )

    def show(self, snap: QueueSnapshot) -> None:
        self.pending_keys.set(snap.pending)
        for s in snap.shards:
            self.shard_pending_keys.labels(str(s.shard)).set(s.pending)
        self.oldest_pending_seconds.set(snap.oldest_pending_s)
        self.inflight_batches.set(snap.inflight)
        self.dead_letter_batches.set(snap.dead)
        self.sampled_at.set(snap.taken_ms / 1000)
