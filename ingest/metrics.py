"""Prometheus metrics of the HTTP server, in a registry owned by the app (no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True)
class IngestMetrics:
    registry: CollectorRegistry
    events: Counter
    requests: Counter
    request_seconds: Histogram
    batch_events: Histogram
    pending_keys: Gauge

    @classmethod
    def create(cls) -> IngestMetrics:
        r = CollectorRegistry()
        return cls(
            registry=r,
            events=Counter(
                "waymark_ingest_events", "Events received, by result", ["result"], registry=r
            ),
            requests=Counter(
                "waymark_ingest_requests", "Ingest requests, by HTTP status", ["status"],
                registry=r,
            ),
            request_seconds=Histogram(
                "waymark_ingest_request_seconds", "Ingest request latency",
                buckets=LATENCY_BUCKETS, registry=r,
            ),
            batch_events=Histogram(
                "waymark_ingest_batch_events", "Events per ingest request",
                buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000), registry=r,
            ),
            pending_keys=Gauge(
                "waymark_queue_pending_keys", "Keys waiting in the merge buffer", registry=r
            ),
        )
