"""``GET /v1/alerts`` and the monitor task behind it (SPEC §9).

Every ``WAYMARK_MONITOR_INTERVAL_S`` the task samples the buffer (``monitoring.queue``), the
workers' reports (``monitoring.fleet``) and this server's own counters, refreshes the queue and
backlog gauges, and evaluates the alerts; the endpoint answers the latest evaluation. Rates and
the lag p99 are taken over ``WAYMARK_ALERT_WINDOW_S``; the ingest error rate is this server's
own (each replica judges its own answers), the flush figures are the whole fleet's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import asyncpg
import structlog
from aiohttp import web

from ingest.context import KEYS, METRICS, POOL, REDIS, SETTINGS
from ingest.handlers import json_response
from ingest.metrics import IngestMetrics
from monitoring import alerts as a
from monitoring.fleet import LAG_BUCKETS, CounterHistory, FleetTotals, heartbeat_age_s, read_fleet
from monitoring.queue import QueueSnapshot, sample_queue
from waymark.settings import Settings

log = structlog.get_logger()
STOP_TIMEOUT_S = 5.0

_OUTBOX_BACKLOG = """
SELECT (SELECT count(*) FROM outbox WHERE stream_no IS NULL)
     + (SELECT count(*) FROM outbox WHERE stream_no IS NOT NULL AND sent_at IS NULL)
"""
_RECOMPUTE_BACKLOG = """
SELECT coalesce(sum(greatest(learners_total - learners_done, 0)), 0)
FROM catalog_recompute WHERE finished_at IS NULL
"""


class AlertMonitor:
    """Samples, keeps the short histories rates need, and holds the alert book."""

    def __init__(
        self, settings: Settings, app: web.Application, metrics: IngestMetrics
    ) -> None:
        self.settings, self.app, self.metrics = settings, app, metrics
        self.book = a.AlertBook(a.thresholds(settings))
        keep = 2 * settings.alert_window_s + 2 * settings.monitor_interval_s
        self.fleet = FleetTotals()
        self.fleet_history = CounterHistory(keep)
        self.ingest_history = CounterHistory(keep)
        self.queue: QueueSnapshot | None = None
        for name, limit in self.book.limits.items():
            metrics.alert_threshold.labels(name).set(limit)

    async def tick(self) -> list[a.AlertState]:
        s, m, now = self.settings, self.metrics, time.time()
        values: dict[str, float | None] = {}
        redis = self.app[REDIS]
        try:
            self.queue = await sample_queue(redis, s.shards, s.merge_window_ms)
            m.queue.show(self.queue)
            values[a.QUEUE_DEPTH] = self.queue.pending
            values[a.OLDEST_PENDING] = self.queue.oldest_pending_s
            values[a.DEAD_LETTERS] = self.queue.dead
            reports = await read_fleet(redis)
            values[a.HEARTBEAT] = heartbeat_age_s(reports, now)
            self.fleet_history.add(now, self.fleet.update(reports))
        except Exception as e:  # Redis away: those figures are unknown, the rest still count
            log.warning("monitor_sample_failed", source="redis", error=type(e).__name__)
        fleet = self.fleet_history.increase(s.alert_window_s)
        if fleet:
            values[a.FLUSH_ERRORS] = a.ratio(fleet[0], fleet[0] + fleet[1])
            values[a.LAG_P99] = a.histogram_quantile(0.99, LAG_BUCKETS, fleet[2:])
        self.ingest_history.add(now, self._ingest_counts())
        answers = self.ingest_history.increase(s.alert_window_s)
        values[a.INGEST_ERRORS] = a.ratio(answers[0], answers[1]) if answers else 0.0
        await self._backlogs()
        states = self.book.update(values)
        for st in states:
            m.alert_firing.labels(st.name).set(st.state == "firing")
        return states

    def _ingest_counts(self) -> tuple[float, float]:
        """(5xx answers, all answers) to ``POST /v1/events`` so far."""
        errors = total = 0.0
        for metric in self.metrics.requests.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    total += sample.value
                    if sample.labels.get("status", "").startswith("5"):
                        errors += sample.value
        return errors, total

    async def _backlogs(self) -> None:
        m = self.metrics
        try:
            async with asyncio.timeout(2.0), self.app[POOL].acquire() as conn:
                for gauge, sql in ((m.outbox_backlog, _OUTBOX_BACKLOG),
                                   (m.recompute_backlog, _RECOMPUTE_BACKLOG)):
                    with contextlib.suppress(asyncpg.UndefinedTableError):  # older schema
                        gauge.set(float(await conn.fetchval(sql)))
        except Exception as e:  # PostgreSQL away: /ready says so; keep the last figures
            log.warning("monitor_sample_failed", source="postgres", error=type(e).__name__)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set; a tick in progress finishes (its I/O has timeouts)."""
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:  # a bug here must not stop monitoring for good
                log.exception("monitor_tick_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.monitor_interval_s)


MONITOR = web.AppKey("monitor", AlertMonitor)


async def monitor_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the monitor for the app's lifetime (after ``_resources``: it uses Redis and the pool).

    Stopped by an event rather than cancelled mid-tick, so no Redis pipeline or PostgreSQL
    query is cut in half while the pools close behind it.
    """
    app[MONITOR] = monitor = AlertMonitor(app[SETTINGS], app, app[METRICS])
    stop = asyncio.Event()
    task = asyncio.create_task(monitor.run(stop))
    try:
        yield
    finally:
        stop.set()
        done, _ = await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def get_alerts(request: web.Request) -> web.Response:
    request.app[KEYS].require(request, "read")
    monitor = request.app[MONITOR]
    states = monitor.book.current or await monitor.tick()
    return json_response(states)
