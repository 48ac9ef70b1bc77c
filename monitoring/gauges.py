"""The gauges the alert loop keeps fresh, registered in the registry of the process running it.

The HTTP server registers them beside its own ingest metrics (one ``/metrics`` per process);
``waymark monitor`` has nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Gauge

from monitoring.queue import QueueGauges


@dataclass(frozen=True)
class MonitorGauges:
    queue: QueueGauges
    outbox_backlog: Gauge
    recompute_backlog: Gauge
    alert_threshold: Gauge
    alert_firing: Gauge

    @classmethod
    def create(cls, r: CollectorRegistry) -> MonitorGauges:
        return cls(
            queue=QueueGauges.create(r),
            outbox_backlog=Gauge(
                "waymark_outbox_backlog", "Domain events written but not yet in the stream",
                registry=r,
            ),
            recompute_backlog=Gauge(
                "waymark_recompute_backlog", "Learners still to recompute after catalog changes",
                registry=r,
            ),
            alert_threshold=Gauge(
                "waymark_alert_threshold", "WAYMARK_ALERT_* thresholds, read by the rules",
                ["alert"], registry=r,
            ),
            alert_firing=Gauge(
                "waymark_alert_firing", "1 while the alert fires in this process's evaluation",
                ["alert"], registry=r,
            ),
        )
