"""Prometheus metrics of a worker process, in a registry of its own.

Each worker serves its registry on its own port, ``WAYMARK_WORKER_METRICS_PORT + index``; its
figures also reach Redis through ``monitoring.fleet`` so ``/v1/alerts`` can judge the fleet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from aggregator.apply import ApplyResult
from monitoring.fleet import LAG_BUCKETS


@dataclass(frozen=True)
class WorkerMetrics:
    registry: CollectorRegistry
    flush_batch_keys: Histogram
    flush_seconds: Histogram
    flush_errors: Counter
    flush_retries: Counter
    heartbeat: Gauge
    event_lag: Histogram
    rows_written: Counter
    ledger_skips: Counter
    dead_lettered: Counter
    achievement_backfill: Counter
    name: str = "0"
    """This worker's name among its peers (its index), as reported to the fleet."""

    @classmethod
    def create(cls, name: str = "0") -> WorkerMetrics:
        r = CollectorRegistry()
        return cls(
            registry=r,
            name=name,
            flush_batch_keys=Histogram(
                "waymark_flush_batch_keys", "Keys per applied batch",
                buckets=(1, 10, 50, 100, 250, 500, 1000, 2500), registry=r,
            ),
            flush_seconds=Histogram(
                "waymark_flush_seconds",
                "Time to apply one batch to PostgreSQL (transaction, retries, ack)",
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r,
            ),
            flush_errors=Counter(
                "waymark_flush_errors", "Batches whose apply failed", registry=r
            ),
            flush_retries=Counter(
                "waymark_flush_retries",
                "Transient apply failures retried in place (deadlock, lost connection, …)",
                registry=r,
            ),
            event_lag=Histogram(
                "waymark_event_lag_seconds",
                "From an entry's first accepted event to its commit in PostgreSQL",
                buckets=LAG_BUCKETS, registry=r,
            ),
            heartbeat=Gauge(
                "waymark_worker_last_heartbeat_timestamp_seconds",
                "Last time this worker's scheduler completed a tick", registry=r,
            ),
            rows_written=Counter(
                "waymark_rows_written", "Progress rows written by applied batches, by table",
                ["table"], registry=r,
            ),
            ledger_skips=Counter(
                "waymark_flush_ledger_skips",
                "Batch parts found already applied (a re-delivery after a crash)", registry=r,
            ),
            dead_lettered=Counter(
                "waymark_dead_lettered_keys", "Keys moved to the dead-letter area", registry=r
            ),
            achievement_backfill=Counter(
                "waymark_achievement_backfill_learners",
                "Learners a new or changed achievement definition has been applied to",
                registry=r,
            ),
        )

    def applied(self, results: Iterable[ApplyResult], dead: int = 0) -> None:
        """Count what one flushed batch wrote (its parts' results) and set aside."""
        for result in results:
            if not result.applied:
                self.ledger_skips.inc()
                continue
            self.rows_written.labels("chapter_progress").inc(result.chapters)
            self.rows_written.labels("course_progress").inc(result.courses)
        self.dead_lettered.inc(dead)
