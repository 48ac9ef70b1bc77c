"""Prometheus metrics of the HTTP server, in a registry owned by the app (no globals).

The registry also holds monitoring's gauges (``monitor``), which the alert loop keeps fresh, so
one scrape of ``/metrics`` shows both.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from monitoring.gauges import MonitorGauges

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BYTES_BUCKETS = tuple(float(2**n) for n in range(8, 21, 2))
"""256 B … 1 MiB, by powers of 4."""
SKEW_BUCKETS = (-3600, -300, -60, -10, -1, -0.1, 0.1, 1, 10, 60, 300, 3600, 86400)
"""Signed: received - sent_at; negative when the client's clock is ahead of ours."""


@dataclass(frozen=True)
class IngestMetrics:
    registry: CollectorRegistry
    events: Counter
    requests: Counter
    request_seconds: Histogram
    batch_events: Histogram
    pending_keys: Gauge
    monitor: MonitorGauges
    rejected: Counter
    payload_bytes: Histogram
    clock_skew: Histogram
    learner_data: Counter

    @classmethod
    def create(cls) -> IngestMetrics:
        r = CollectorRegistry()
        monitor = MonitorGauges.create(r)
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
            pending_keys=monitor.queue.pending_keys,
            monitor=monitor,
            rejected=Counter(
                "waymark_ingest_rejected_events", "Events rejected in a taken batch, by code",
                ["code"], registry=r,
            ),
            payload_bytes=Histogram(
                "waymark_ingest_payload_bytes",
                "Request body size: as sent (wire, when Content-Length is known) and decoded",
                ["form"], buckets=BYTES_BUCKETS, registry=r,
            ),
            clock_skew=Histogram(
                "waymark_ingest_clock_skew_seconds",
                "Received time minus the batch's sent_at (batches that carry one)",
                buckets=SKEW_BUCKETS, registry=r,
            ),
            learner_data=Counter(
                "waymark_learner_data_requests",
                "Learner exports, course exports and erasures answered, by kind", ["kind"],
                registry=r,
            ),
        )

    def event_answers(self) -> tuple[float, float]:
        """(5xx answers, all answers) to ``POST /v1/events`` so far: the alert loop's input."""
        errors = total = 0.0
        for metric in self.requests.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    total += sample.value
                    if sample.labels.get("status", "").startswith("5"):
                        errors += sample.value
        return errors, total
