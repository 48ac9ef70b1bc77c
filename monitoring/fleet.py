"""Worker reports: each worker's figures carried to Redis, so one place can judge them all.

Every worker publishes, about once a second, one field of the hash ``waymark:workers``
(field = the worker's name, value = JSON of its heartbeat and its cumulative flush and lag
counters, read from its own Prometheus registry). A graceful stop removes the field; a crashed
worker's field stays and its heartbeat ages, which is what the heartbeat alert is for. The
reader turns the reports into totals that survive worker restarts (a counter that went down
was reset, as Prometheus assumes) and keeps a short history to take windowed rates from.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from dataclasses import dataclass, field

import structlog
from prometheus_client import CollectorRegistry

from buffer.cluster import RedisClient

log = structlog.get_logger()
FLEET_KEY = "waymark:workers"
LAG_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 2.5, 3, 5, 10, 30, 60, 300)
"""Upper bounds of ``waymark_event_lag_seconds`` (the worker's histogram uses these)."""
REPORT_INTERVAL_S = 1.0
STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class WorkerReport:
    name: str
    heartbeat: float
    """Epoch seconds of the worker's last scheduler tick (0 before the first)."""
    counters: tuple[float, ...]
    """Cumulative: flush errors, flushes applied, then lag bucket counts (``LAG_BUCKETS``, +Inf)."""

    def encode(self) -> str:
        return json.dumps({"hb": self.heartbeat, "c": list(self.counters)})

    @classmethod
    def decode(cls, name: str, raw: str | bytes) -> WorkerReport:
        doc = json.loads(raw)
        return cls(name, float(doc["hb"]), tuple(float(c) for c in doc["c"]))


def read_report(name: str, registry: CollectorRegistry) -> WorkerReport:
    """This worker's report, read from its registry through the public sample API."""

    def value(metric: str, labels: dict[str, str] | None = None) -> float:
        return registry.get_sample_value(metric, labels) or 0.0

    counters = [value("waymark_flush_errors_total"), value("waymark_flush_seconds_count")]
    for le in (*LAG_BUCKETS, float("inf")):
        counters.append(value("waymark_event_lag_seconds_bucket", {"le": _le(le)}))
    hb = value("waymark_worker_last_heartbeat_timestamp_seconds")
    return WorkerReport(name, hb, tuple(counters))


def _le(bound: float) -> str:
    if bound == float("inf"):
        return "+Inf"
    return str(float(bound))


class WorkerReporter:
    """Publishes one worker's report until stopped; a graceful stop withdraws it."""

    def __init__(self, redis: RedisClient, name: str, registry: CollectorRegistry) -> None:
        self.redis, self.name, self.registry = redis, name, registry
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def start(self, interval_s: float = REPORT_INTERVAL_S) -> None:
        self._task = asyncio.create_task(self._run(interval_s))

    async def publish(self) -> None:
        report = read_report(self.name, self.registry)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(FLEET_KEY, self.name, report.encode())
            await pipe.execute()

    async def stop(self) -> None:
        if self._task is not None:  # stopped between reports, not cut off in the middle of one
            self._stop.set()
            done, _ = await asyncio.wait({self._task}, timeout=STOP_TIMEOUT_S)
            if not done:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hdel(FLEET_KEY, self.name)
                await pipe.execute()
        except Exception as e:  # Redis away at shutdown: the report ages out as a stale heartbeat
            log.warning("worker_report_withdraw_failed", error=type(e).__name__)

    async def _run(self, interval_s: float) -> None:
        while not self._stop.is_set():
            try:
                await self.publish()
            except Exception as e:  # Redis away: the next tick tries again
                log.debug("worker_report_failed", error=type(e).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval_s)


async def read_fleet(redis: RedisClient) -> list[WorkerReport]:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(FLEET_KEY)
        (raw,) = await pipe.execute()
    out = []
    for name, value in raw.items():
        key = name.decode() if isinstance(name, bytes) else str(name)
        try:
            out.append(WorkerReport.decode(key, value))
        except (ValueError, KeyError, TypeError):
            log.warning("worker_report_unreadable", worker=key)
    return sorted(out, key=lambda r: r.name)


@dataclass
class CounterHistory:
    """Monotonic totals over time, from samples of counters that may reset (restarts)."""

    keep_s: float
    samples: deque[tuple[float, tuple[float, ...]]] = field(default_factory=deque)

    def add(self, at: float, totals: tuple[float, ...]) -> None:
        self.samples.append((at, totals))
        while len(self.samples) > 2 and self.samples[1][0] <= at - self.keep_s:
            self.samples.popleft()

    def increase(self, window_s: float) -> tuple[float, ...] | None:
        """Latest minus the newest sample at least ``window_s`` old (or the oldest kept)."""
        if len(self.samples) < 2:
            return None
        at, last = self.samples[-1]
        base = self.samples[0][1]
        for t, values in self.samples:
            if t > at - window_s:
                break
            base = values
        return tuple(b - a for a, b in zip(base, last, strict=True))


COUNTERS = 2 + len(LAG_BUCKETS) + 1
"""Width of a report's counters: errors, flushes, lag buckets with +Inf."""


@dataclass
class FleetTotals:
    """Sums the workers' counters into totals that never go down across worker restarts."""

    last: dict[str, tuple[float, ...]] = field(default_factory=dict)
    totals: tuple[float, ...] = (0.0,) * COUNTERS

    def update(self, reports: list[WorkerReport]) -> tuple[float, ...]:
        for r in reports:
            if len(r.counters) != COUNTERS:
                continue  # a worker of another version: its figures do not line up
            prev = self.last.get(r.name)
            if prev is None or any(b < a for a, b in zip(prev, r.counters, strict=True)):
                prev = (0.0,) * COUNTERS  # first sight or a restart: count from 0
            self.totals = tuple(
                t + b - a for t, a, b in zip(self.totals, prev, r.counters, strict=True)
            )
            self.last[r.name] = r.counters
        return self.totals


def heartbeat_age_s(reports: list[WorkerReport], now: float) -> float | None:
    """Age of the stalest worker's heartbeat; ``None`` when no worker reports at all."""
    if not reports:
        return None
    beats = [r.heartbeat for r in reports if r.heartbeat > 0]  # 0: started, no tick yet
    return max(0.0, max(now - b for b in beats)) if beats else 0.0
