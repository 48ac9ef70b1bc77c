"""A real Prometheus scrapes the served processes, loads our rules and sees workers stop.

The HTTP server and one worker run as processes (``waymark serve`` / ``waymark worker``);
Prometheus scrapes both every second and evaluates ``monitoring/prometheus/alerts.yml`` every
second. Thresholds come from the environment through ``waymark_alert_threshold``, so a few
seconds are enough. When the worker stops, Prometheus fires the heartbeat and queue-age alerts
and ``GET /v1/alerts`` agrees.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.servers import free_port
from tests.conftest import ADMIN_KEY, API_KEYS
from tests.helpers import event
from tests.monitoring.conftest import RULES

pytestmark = pytest.mark.slow
THRESHOLD_S = 3


def get(url: str, body: bytes | None = None) -> Any:
    req = urllib.request.Request(url, data=body, headers={
        "Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def wait_for(what: str, check: Callable[[], bool], within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.25)
    raise AssertionError(f"never saw: {what}")


def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        if os.geteuid() != 0:
            pytest.skip("prometheus is missing (`make install` as root installs it)")
        raise AssertionError("prometheus is missing; `make install` installs it")
    return path


class Stack:
    """Child processes by name, each logging to a file of its own."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.http = self.prom = ""

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        with (self.tmp / f"{name}.log").open("wb") as out:
            self.procs[name] = subprocess.Popen(argv, env=env, stdout=out, stderr=out)

    def stop(self, name: str) -> int:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"{name} ignored SIGTERM:\n{self.log(name)}") from None

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")[-3000:]


@pytest.fixture
def stack(redis_url: str, database_url: str, tmp_path: Path) -> Iterator[Stack]:
    binary = prometheus_binary()
    http, metrics, worker, prom = free_port(), free_port(), free_port(), free_port()
    env = dict(
        os.environ, REDIS_URL=redis_url, DATABASE_URL=database_url, WAYMARK_API_KEYS=API_KEYS,
        WAYMARK_HTTP_PORT=str(http), WAYMARK_WORKER_METRICS_PORT=str(worker),
        WAYMARK_METRICS_LISTEN=f"127.0.0.1:{metrics}",  # the separate listener, as in production
        WAYMARK_LOG_LEVEL="warning", WAYMARK_MERGE_WINDOW_MS="0",
        WAYMARK_MONITOR_INTERVAL_S="0.5",
        WAYMARK_ALERT_HEARTBEAT_AGE_S=str(THRESHOLD_S),
        WAYMARK_ALERT_OLDEST_PENDING_S=str(THRESHOLD_S),
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({  # JSON is YAML
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": "waymark-ingest", "static_configs": [
                {"targets": [f"127.0.0.1:{metrics}"]}]},
            {"job_name": "waymark-workers", "static_configs": [
                {"targets": [f"127.0.0.1:{worker}"]}]},
        ],
    }))
    s = Stack(tmp_path)
    s.start("serve", [sys.executable, "-m", "waymark", "serve"], env)
    s.start("worker", [sys.executable, "-m", "waymark", "worker"], env)
    s.start("prometheus", [
        binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prom}",
    ])
    s.http, s.prom = f"http://127.0.0.1:{http}", f"http://127.0.0.1:{prom}"
    try:
        yield s
    finally:
        for name in list(s.procs):
            s.stop(name)


def firing_in_prometheus(prom: str) -> set[str]:
    alerts = get(f"{prom}/api/v1/alerts")["data"]["alerts"]
    return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}


def firing_in_waymark(http: str) -> dict[str, Any]:
    return {a["name"]: a for a in get(f"{http}/v1/alerts") if a["state"] == "firing"}


def test_stopped_workers_fire_the_heartbeat_and_queue_age_alerts_in_prometheus(
    stack: Stack,
) -> None:
    http, prom = stack.http, stack.prom

    def both_targets_up() -> bool:
        targets = get(f"{prom}/api/v1/targets")["data"]["activeTargets"]
        return len(targets) == 2 and all(t["health"] == "up" for t in targets)

    def rules_loaded() -> bool:
        return len(get(f"{prom}/api/v1/rules")["data"]["groups"]) == 2

    wait_for("both targets scraped", both_targets_up)
    wait_for("rules loaded", rules_loaded)
    first = json.dumps({"events": [event("chapter_completed", chapter_id="ch-1")]}).encode()
    assert get(f"{http}/v1/events", first)["accepted"] == 1
    wait_for("the worker heartbeat in Prometheus", lambda: bool(get(
        f"{prom}/api/v1/query?query=waymark_worker_last_heartbeat_timestamp_seconds"
    )["data"]["result"]))
    wait_for("the queue drained", lambda: get(
        f"{prom}/api/v1/query?query=waymark_queue_pending_keys")["data"]["result"][0]["value"][1]
        == "0")
    assert {"WaymarkWorkerHeartbeatStale", "WaymarkQueueOldestPendingHigh"}.isdisjoint(
        firing_in_prometheus(prom))
    assert "WaymarkWorkerHeartbeatStale" not in firing_in_waymark(http)

    assert stack.stop("worker") == 0
    late = json.dumps({"events": [event("chapter_completed", chapter_id="ch-2")]}).encode()
    assert get(f"{http}/v1/events", late)["accepted"] == 1

    wanted = {"WaymarkWorkerHeartbeatStale", "WaymarkQueueOldestPendingHigh"}
    try:
        wait_for("both alerts firing in Prometheus",
                 lambda: wanted <= firing_in_prometheus(prom))
    except AssertionError:
        raise AssertionError("\n".join(f"--- {n}\n{stack.log(n)}" for n in stack.procs)) from None
    ours = firing_in_waymark(http)
    assert wanted <= set(ours)
    assert ours["WaymarkQueueOldestPendingHigh"]["value"] > THRESHOLD_S
    assert ours["WaymarkQueueOldestPendingHigh"]["threshold"] == THRESHOLD_S
