"""The Locust learner load test still runs end to end (a smoke run: seconds, no timing asserted)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from benchmarks.locust_run import accepted_events, locust_command, read_sdk_totals, read_stats
from devstack.servers import free_port
from tests.conftest import ADMIN_KEY, API_KEYS, INGEST_KEY
from tests.helpers import wait_http, waymark_process

TOKEN_SECRET = "locust-smoke-user-token-secret-0123456789"
REQUEST_KINDS = {
    "PUT /v1/courses/[course]",
    "POST /v1/events",
    "GET /v1/users/[user]/courses/[course]",
    "DELETE /v1/users/[user]/courses/[course]/progress",
}
# Fast-forward: heartbeats every 50 ms and 30 s videos, so a few seconds of 30 learners see
# every kind of event and request, resets included.
LEARNERS = {"WAYMARK_LEARNERS": "10", "WAYMARK_HEARTBEAT_S": "0.05", "WAYMARK_VIDEO_S": "30",
            "WAYMARK_COURSES": "2", "WAYMARK_CHAPTERS": "4"}


def test_learners_make_every_kind_of_request_without_a_failure_and_their_events_arrive(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    servers = {"REDIS_URL": redis_url, "DATABASE_URL": database_url, "WAYMARK_API_KEYS": API_KEYS,
               "WAYMARK_USER_TOKEN_SECRET": TOKEN_SECRET, "WAYMARK_LOG_LEVEL": "warning",
               "WAYMARK_METRICS_LISTEN": "api"}  # accepted_events scrapes the API port
    # The learners read with their own tokens, so the ingest key needs no read scope.
    keys = {"WAYMARK_KEY": INGEST_KEY, "WAYMARK_ADMIN_KEY": ADMIN_KEY,
            "WAYMARK_USER_TOKEN_SECRET": TOKEN_SECRET}
    prefix = tmp_path / "locust"
    with (
        waymark_process("serve", tmp_path / "serve.log", WAYMARK_HTTP_PORT=str(port),
                        **servers) as serve,
        waymark_process("worker", tmp_path / "worker.log",
                        WAYMARK_WORKER_METRICS_PORT=str(free_port()), **servers),
    ):
        wait_http(f"{url}/health", serve)
        run = subprocess.run(locust_command(url, prefix, users=3, spawn_rate=3, seconds=4),
                             env=os.environ | keys | LEARNERS, capture_output=True, text=True,
                             timeout=60)
        accepted = accepted_events(url)

    assert run.returncode == 0, run.stderr[-4000:]
    stats = read_stats(prefix)
    made = {name.split(" (")[0] for name in stats} - {"Aggregated"}  # "(404 …)" rows count too
    assert made == REQUEST_KINDS, stats.keys()
    assert {name: row["Failure Count"] for name, row in stats.items()} == dict.fromkeys(stats, "0")
    sdk = read_sdk_totals(prefix)
    assert sdk["enqueued"] > 0
    assert sdk["rejected"] == sdk["failed"] == sdk["dropped"] == 0, sdk
    assert accepted > 0
