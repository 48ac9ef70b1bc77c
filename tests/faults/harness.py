"""Real processes, a seeded workload with duplicates and retries, and the reference to compare.

A fault test starts ``waymark serve`` and workers as processes on the session's Redis and
PostgreSQL, sends a workload the way an SDK does (each batch resent until a 202, some batches
resent after their 202 too), injects its fault, waits until the pipeline is idle and compares
every chapter row with ``tests/reference.py``: events lost and seconds counted twice must be 0.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from buffer.cluster import is_cluster
from devstack.servers import free_port
from tests.conftest import ADMIN_KEY, API_KEYS
from tests.reference import chapter_state

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


@dataclass
class Stack:
    redis_url: str
    database_url: str
    logs: Path
    queue_redis_url: str | None = None
    """The job queue's Redis when ``redis_url`` names a cluster (arq needs one Redis)."""
    env: dict[str, str] = field(default_factory=dict)
    serve: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.port = free_port()
        self.env = dict(os.environ, REDIS_URL=self.redis_url, DATABASE_URL=self.database_url,
                        WAYMARK_API_KEYS=API_KEYS, WAYMARK_HTTP_PORT=str(self.port),
                        WAYMARK_WORKER_METRICS_PORT=str(free_port()),
                        WAYMARK_MERGE_WINDOW_MS="200", WAYMARK_LEASE_S="3",
                        WAYMARK_LOG_LEVEL="warning", WAYMARK_SHUTDOWN_S="5")
        if self.queue_redis_url:
            self.env["WAYMARK_QUEUE_REDIS_URL"] = self.queue_redis_url

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, name: str, argv: list[str], **env: str) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as out:
            return subprocess.Popen([sys.executable, "-m", *argv], env={**self.env, **env},
                                    stderr=out)

    def start_serve(self, **env: str) -> None:
        self.serve = self._spawn("serve", ["waymark", "serve"], **env)

    def start_worker(self, *, crash: str | None = None, **env: str) -> subprocess.Popen[bytes]:
        """A worker process; with ``crash`` (see ``tests.faults.crash_worker``) one that dies
        at that point of its first batch that reaches it."""
        env.setdefault("WAYMARK_WORKER_METRICS_PORT", str(free_port()))
        argv = ["tests.faults.crash_worker", crash] if crash else ["waymark", "worker"]
        p = self._spawn(f"worker-{len(self.workers)}", argv, **env)
        self.workers.append(p)
        return p

    async def wait_http(self) -> None:
        await wait_http(self.url)

    def stop(self) -> list[int | None]:
        procs = [p for p in [self.serve, *self.workers] if p is not None]
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes = []
        for p in procs:
            try:
                codes.append(p.wait(20))
            except subprocess.TimeoutExpired:
                p.kill()
                codes.append(p.wait())
        return codes


async def wait_http(url: str, tries: int = 100) -> None:
    """Until the HTTP server at ``url`` answers ``/health``."""
    async with aiohttp.ClientSession() as s:
        for _ in range(tries):
            try:
                async with s.get(f"{url}/health") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the server never answered")


def workload(seed: int, n: int, users: int = 5) -> list[dict[str, Any]]:
    """Progress and completions for a few learners, ts spread over the last minutes."""
    rnd = random.Random(seed)
    now = int(time.time() * 1000)
    events = []
    for i in range(n):
        kind = rnd.choice(["chapter_progress"] * 8 + ["chapter_completed"])
        ev: dict[str, Any] = {
            "id": f"s{seed}-e{i}", "type": kind, "user_id": f"u{rnd.randrange(users)}",
            "course_id": "c-1", "chapter_id": f"ch-{rnd.randrange(4)}",
            "ts": now - 600_000 + i * 10, "time_spent_s": rnd.choice([1, 2.5, 10]),
        }
        if kind == "chapter_progress":
            ev["progress"] = float(rnd.randrange(0, 100))
        events.append(ev)
    return events


@dataclass
class SendReport:
    accepted_ids: set[str] = field(default_factory=set)
    statuses: dict[int, int] = field(default_factory=dict)
    retry_after_missing: int = 0


async def send(url: str, events: list[dict[str, Any]], *, batch: int = 20, seed: int = 0,
               deadline_s: float = 120, pace_s: float = 0.0) -> SendReport:
    """Send like an SDK: every batch until it is taken; a fifth of them once more afterwards."""
    rnd = random.Random(seed)
    report = SendReport()
    stop = time.monotonic() + deadline_s
    async with aiohttp.ClientSession(headers=AUTH,
                                     timeout=aiohttp.ClientTimeout(total=5)) as s:
        for i in range(0, len(events), batch):
            chunk = events[i:i + batch]
            sends = 2 if rnd.random() < 0.2 else 1
            while sends and time.monotonic() < stop:
                try:
                    async with s.post(f"{url}/v1/events", json={"events": chunk}) as r:
                        report.statuses[r.status] = report.statuses.get(r.status, 0) + 1
                        if r.status == 202:
                            sends -= 1
                            body = await r.json()
                            assert body["rejected"] == []
                            report.accepted_ids.update(e["id"] for e in chunk)
                            await asyncio.sleep(pace_s)
                            continue
                        if r.status in (429, 503) and "Retry-After" not in r.headers:
                            report.retry_after_missing += 1
                except (aiohttp.ClientError, TimeoutError):
                    report.statuses[0] = report.statuses.get(0, 0) + 1
                await asyncio.sleep(0.05)
    return report


async def wait_idle(redis_url: str, timeout_s: float = 60) -> None:
    """Until no key is pending and no batch is leased, in any shard (on every master of a
    cluster)."""
    cluster = await is_cluster(redis_url)
    async with (RedisCluster.from_url(redis_url) if cluster else Redis.from_url(redis_url)) as r:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            busy = 0
            keys = [k async for k in r.scan_iter("wm:*")]
            for key in keys:
                name = key.decode()
                if name.endswith((":due", ":leases")):
                    busy += await r.zcard(key)
            if busy == 0:
                return
            await asyncio.sleep(0.1)
    raise AssertionError("the pipeline never became idle")


@dataclass
class Comparison:
    missing_s: float
    """Seconds of accepted events absent from PostgreSQL: lost events."""
    double_counted_s: float
    mismatched: list[str]

    @property
    def exact(self) -> bool:
        return self.missing_s == 0 and self.double_counted_s == 0 and not self.mismatched


async def compare(database_url: str, events: list[dict[str, Any]],
                  accepted: set[str]) -> Comparison:
    """PostgreSQL against the reference over the accepted events."""
    taken = [e for e in events if e["id"] in accepted]
    conn = await asyncpg.connect(database_url)
    try:
        rows = {(r["user_id"], r["chapter_id"]): r for r in await conn.fetch(
            "SELECT user_id, chapter_id, progress, completed, time_spent_ms"
            " FROM chapter_progress WHERE course_id = 'c-1'")}
    finally:
        await conn.close()
    keys = {(e["user_id"], e["chapter_id"]) for e in taken if "chapter_id" in e}
    missing = 0.0
    double = 0.0
    mismatched = []
    for user, chapter in sorted(keys):
        ref = chapter_state(taken, user, "c-1", chapter)
        row = rows.get((user, chapter))
        got_ms = row["time_spent_ms"] if row else 0
        missing += max(0, ref.time_ms - got_ms) / 1000
        double += max(0, got_ms - ref.time_ms) / 1000
        if row is None or (row["progress"], row["completed"], got_ms) != (
                ref.progress, ref.completed, ref.time_ms):
            mismatched.append(f"{user}/{chapter}")
    return Comparison(missing, double, mismatched)
