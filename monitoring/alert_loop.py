"""The alert loop behind ``GET /v1/alerts``, run by each HTTP server and the monitor.

Every ``WAYMARK_MONITOR_INTERVAL_S`` the loop samples the buffer (``monitoring.queue``), the
workers' reports (``monitoring.fleet``), the PostgreSQL backlogs (``aggregator.backlogs``) and the
answers of the process it runs in, refreshes the gauges and evaluates the alerts; the endpoint
answers the latest evaluation. Rates and the lag p99 are taken over ``WAYMARK_ALERT_WINDOW_S``;
the ingest error rate is the process's own (each replica judges its own answers), the flush
figures are the whole fleet's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import asyncpg
import msgspec
import structlog
from aiohttp import web

from aggregator import backlogs
from buffer.cluster import RedisClient
from monitoring import alerts as a
from monitoring.fleet import LAG_BUCKETS, CounterHistory, FleetTotals, heartbeat_age_s, read_fleet
from monitoring.gauges import MonitorGauges
from monitoring.queue import QueueSnapshot, sample_queue
from waymark.settings import Settings

log = structlog.get_logger()
STOP_TIMEOUT_S = 5.0
Answers = Callable[[], tuple[float, float]]
"""(5xx answers, all answers) to ``POST /v1/events`` so far, in this process."""
_json = msgspec.json.Encoder()


def no_answers() -> tuple[float, float]:
    """The answers of a process that takes no events."""
    return 0.0, 0.0


class AlertMonitor:
    """Samples, keeps the short histories rates need, and holds the alert book."""

    def __init__(
        self,
        settings: Settings,
        redis: RedisClient,
        pool: asyncpg.Pool[asyncpg.Record],
        gauges: MonitorGauges,
        answers: Answers = no_answers,
    ) -> None:
        self.settings, self.redis, self.pool = settings, redis, pool
        self.gauges, self.answers = gauges, answers
        self.book = a.AlertBook(a.thresholds(settings))
        keep = 2 * settings.alert_window_s + 2 * settings.monitor_interval_s
        self.fleet = FleetTotals()
        self.fleet_history = CounterHistory(keep)
        self.answer_history = CounterHistory(keep)
        self.queue: QueueSnapshot | None = None
        for name, limit in self.book.limits.items():
            gauges.alert_threshold.labels(name).set(limit)

    async def tick(self) -> list[a.AlertState]:
        s, g, now = self.settings, self.gauges, time.time()
        values: dict[str, float | None] = {}
        try:
            self.queue = await sample_queue(self.redis, s.shards, s.merge_window_ms)
            g.queue.show(self.queue)
            values[a.QUEUE_DEPTH] = self.queue.pending
            values[a.OLDEST_PENDING] = self.queue.oldest_pending_s
            values[a.DEAD_LETTERS] = self.queue.dead
            reports = await read_fleet(self.redis)
            values[a.HEARTBEAT] = heartbeat_age_s(reports, now)
            self.fleet_history.add(now, self.fleet.update(reports))
        except Exception as e:  # Redis away: those figures are unknown, the rest still count
            log.warning("monitor_sample_failed", source="redis", error=type(e).__name__)
        fleet = self.fleet_history.increase(s.alert_window_s)
        if fleet:
            values[a.FLUSH_ERRORS] = a.ratio(fleet[0], fleet[0] + fleet[1])
            values[a.LAG_P99] = a.histogram_quantile(0.99, LAG_BUCKETS, fleet[2:])
        self.answer_history.add(now, self.answers())
        answers = self.answer_history.increase(s.alert_window_s)
        values[a.INGEST_ERRORS] = a.ratio(answers[0], answers[1]) if answers else 0.0
        await self._backlogs()
        states = self.book.update(values)
        for st in states:
            g.alert_firing.labels(st.name).set(st.state == "firing")
        return states

    async def _backlogs(self) -> None:
        g = self.gauges
        try:
            async with asyncio.timeout(2.0), self.pool.acquire() as conn:
                for gauge, count in ((g.outbox_backlog, backlogs.outbox_backlog),
                                     (g.recompute_backlog, backlogs.recompute_backlog)):
                    with contextlib.suppress(asyncpg.UndefinedTableError):  # older schema
                        gauge.set(float(await count(conn)))
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


@contextlib.asynccontextmanager
async def running(monitor: AlertMonitor) -> AsyncIterator[AlertMonitor]:
    """Run ``monitor`` until the block ends (open it after the Redis client and the pool).

    Stopped by an event rather than cancelled mid-tick, so no Redis pipeline or PostgreSQL
    query is cut in half while the pools close behind it.
    """
    stop = asyncio.Event()
    task = asyncio.create_task(monitor.run(stop))
    try:
        yield monitor
    finally:
        stop.set()
        done, _ = await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def get_alerts(request: web.Request) -> web.Response:
    """The latest evaluation (one now, if the loop has not ticked yet). Callers check scope."""
    monitor = request.app[MONITOR]
    states = monitor.book.current or await monitor.tick()
    return web.Response(body=_json.encode(states), content_type="application/json")
