"""Prometheus metrics of a worker process, in a registry of its own.

Each worker serves its registry on its own port, ``WAYMARK_WORKER_METRICS_PORT + index``; its
figures also reach Redis through ``monitoring.fleet`` so ``/v1/alerts`` can judge the fleet.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from aggregator.apply import ApplyResult
from monitoring.fleet import LAG_BUCKETS


class BatchHistogram(Collector):
    """A Prometheus histogram observed a batch of values at a time.

    The event lag is observed once per applied key, hundreds per batch: ``Histogram.observe``
    takes a lock and walks the buckets for each value, which cost the workers ~2 % of their
    CPU. Exposed as an ordinary histogram (``_bucket``, ``_count``, ``_sum``).
    """

    def __init__(self, name: str, documentation: str, buckets: Iterable[float],
                 registry: CollectorRegistry) -> None:
        self.name = name
        self.documentation = documentation
        self._bounds = sorted(float(b) for b in buckets)
        self._counts = [0] * (len(self._bounds) + 1)  # the last one: above every bound
        self._sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe_many(self, values: Iterable[float]) -> None:
        counts, bounds = self._counts, self._bounds
        total = 0.0
        with self._lock:
            for v in values:
                counts[bisect_left(bounds, v)] += 1  # the first bound >= v: le is inclusive
                total += v
            self._sum += total

    def collect(self) -> list[Metric]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, buckets = 0, []
        for bound, n in zip([*self._bounds, float("inf")], counts, strict=True):
            cumulative += n
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        return [HistogramMetricFamily(self.name, self.documentation, buckets=buckets,
                                      sum_value=total)]


@dataclass(frozen=True)
class WorkerMetrics:
    registry: CollectorRegistry
    flush_batch_keys: Histogram
    flush_seconds: Histogram
    flush_errors: Counter
    flush_retries: Counter
    heartbeat: Gauge
    event_lag: BatchHistogram
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
            event_lag=BatchHistogram(
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
