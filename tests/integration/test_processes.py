"""The production entry points as separate processes: ``waymark serve`` and ``waymark worker``."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.servers import free_port
from tests.conftest import ADMIN_KEY, API_KEYS
from tests.helpers import event


def request(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    req = urllib.request.Request(url, data=body, headers={
        "Authorization": f"Bearer {ADMIN_KEY}", **(headers or {})})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.status, json.loads(resp.read())


@pytest.fixture
def stack(redis_url: str, database_url: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ, REDIS_URL=redis_url, DATABASE_URL=database_url,
               WAYMARK_API_KEYS=API_KEYS, WAYMARK_HTTP_PORT=str(port),
               WAYMARK_WORKER_METRICS_PORT=str(free_port()), WAYMARK_LOG_LEVEL="warning")
    logs = [tmp_path / "serve.log", tmp_path / "worker.log"]
    commands = [["serve"], ["worker"]]
    procs = []
    for cmd, log in zip(commands, logs, strict=True):
        with log.open("wb") as out:  # the child keeps its own descriptor
            procs.append(subprocess.Popen([sys.executable, "-m", "waymark", *cmd], env=env,
                                          stderr=out))
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            request(f"{url}/health")
            break
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    yield url
    for p in procs:
        p.send_signal(signal.SIGTERM)
    codes = []
    for p, log in zip(procs, logs, strict=True):
        try:
            codes.append(p.wait(30))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError(f"{p.args} ignored SIGTERM:\n{log.read_text()[-3000:]}") from None
    assert codes == [0, 0]


def test_a_gzip_batch_through_the_served_processes_becomes_progress(stack: str) -> None:
    ev = event("chapter_completed", chapter_id="ch-1", time_spent_s=12)
    body = gzip.compress(json.dumps({"events": [ev]}).encode())
    status, answer = request(f"{stack}/v1/events", body, {
        "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert (status, answer["accepted"]) == (202, 1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            _, view = request(f"{stack}/v1/users/u-1/courses/c-1")
            break
        except urllib.error.HTTPError:
            time.sleep(0.1)
    else:
        raise AssertionError("progress never became visible")
    assert view["other_chapters"][0]["completed"] is True
    assert view["time_spent_s"] == 12
    status, ready = request(f"{stack}/ready")
    assert ready["checks"] == {"redis": "ok", "postgres": "ok", "migrations": "ok"}
