"""Prometheus metrics of a worker process, in a registry of its own."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True)
class WorkerMetrics:
    registry: CollectorRegistry
    flush_batch_keys: Histogram
    flush_seconds: Histogram
    flush_errors: Counter
    heartbeat: Gauge
    event_lag: Histogram

    @classmethod
    def create(cls) -> WorkerMetrics:
        r = CollectorRegistry()
        return cls(
            registry=r,
            flush_batch_keys=Histogram(
                "waymark_flush_batch_keys", "Keys per applied batch",
                buckets=(1, 10, 50, 100, 250, 500, 1000, 2500), registry=r,
            ),
            flush_seconds=Histogram(
                "waymark_flush_seconds", "Time to apply one batch to PostgreSQL",
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r,
            ),
            flush_errors=Counter(
                "waymark_flush_errors", "Batches whose apply failed", registry=r
            ),
            event_lag=Histogram(
                "waymark_event_lag_seconds",
                "From an entry's first accepted event to its commit in PostgreSQL",
                buckets=(0.1, 0.25, 0.5, 1, 2, 2.5, 3, 5, 10, 30, 60, 300), registry=r,
            ),
            heartbeat=Gauge(
                "waymark_worker_last_heartbeat_timestamp_seconds",
                "Last time this worker's scheduler completed a tick", registry=r,
            ),
        )
