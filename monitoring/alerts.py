"""Alert evaluation: figures in, ``ok``/``firing`` states out, state changes logged once.

The alerts and their names are those of ``monitoring/prometheus/alerts.yml``; the thresholds
are the ``WAYMARK_ALERT_*`` settings, which the HTTP server also exports as
``waymark_alert_threshold{alert}`` so the Prometheus rules judge against the same numbers.
Every alert fires when its value is strictly above its threshold; the heartbeat alert also
fires when no worker reports at all (value ``null``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from waymark.settings import Settings

log = structlog.get_logger()

QUEUE_DEPTH = "WaymarkQueueDepthHigh"
OLDEST_PENDING = "WaymarkQueueOldestPendingHigh"
INGEST_ERRORS = "WaymarkIngestErrorRateHigh"
FLUSH_ERRORS = "WaymarkFlushErrorRateHigh"
DEAD_LETTERS = "WaymarkDeadLetters"
HEARTBEAT = "WaymarkWorkerHeartbeatStale"
LAG_P99 = "WaymarkEventLagP99High"
ALERTS = (QUEUE_DEPTH, OLDEST_PENDING, INGEST_ERRORS, FLUSH_ERRORS, DEAD_LETTERS, HEARTBEAT,
          LAG_P99)


def thresholds(settings: Settings) -> dict[str, float]:
    """Each alert's threshold, from the ``WAYMARK_ALERT_*`` settings."""
    return {
        QUEUE_DEPTH: settings.alert_queue_depth,
        OLDEST_PENDING: settings.alert_oldest_pending_s,
        INGEST_ERRORS: settings.alert_ingest_error_rate,
        FLUSH_ERRORS: settings.alert_flush_error_rate,
        DEAD_LETTERS: settings.alert_dead_letters,
        HEARTBEAT: settings.alert_heartbeat_age_s,
        LAG_P99: settings.alert_lag_p99_s,
    }


def is_firing(name: str, value: float | None, threshold: float) -> bool:
    if value is None:
        return name == HEARTBEAT  # no worker reports: nothing will flush
    return value > threshold


def ratio(part: float, whole: float) -> float:
    """``part / whole``, 0 when there was nothing (no traffic is no error)."""
    return part / whole if whole > 0 else 0.0


def histogram_quantile(q: float, bounds: Sequence[float], counts: Sequence[float]) -> float | None:
    """Prometheus' ``histogram_quantile`` over cumulative ``counts`` (last one is +Inf)."""
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cum in zip(bounds, counts, strict=False):
        if cum >= rank:
            inside = cum - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cum
    return float(bounds[-1])  # in the +Inf bucket: the highest finite bound, as Prometheus does


@dataclass(frozen=True, slots=True)
class AlertState:
    name: str
    state: str
    value: float | None
    threshold: float
    since: str


class AlertBook:
    """The current state of every alert and since when; logs each change once."""

    def __init__(self, limits: dict[str, float]) -> None:
        self.limits = limits
        self._states: dict[str, tuple[bool, datetime]] = {}
        self.current: list[AlertState] = []

    def update(
        self, values: dict[str, float | None], now: datetime | None = None
    ) -> list[AlertState]:
        at = now or datetime.now(UTC)
        out = []
        for name in ALERTS:
            value, limit = values.get(name), self.limits[name]
            firing = is_firing(name, value, limit)
            prev = self._states.get(name)
            if prev is None or prev[0] != firing:
                self._states[name] = (firing, at)
                if prev is not None or firing:
                    emit = log.warning if firing else log.info
                    emit("alert_firing" if firing else "alert_resolved",
                         alert=name, value=value, threshold=limit)
            since = self._states[name][1].isoformat().replace("+00:00", "Z")
            out.append(AlertState(name, "firing" if firing else "ok", value, limit, since))
        self.current = out
        return out
