"""``waymark monitor`` serves the queue figures and the alerts as a process of its own."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

from devstack.servers import free_port
from tests.conftest import API_KEYS, READ_KEY
from tests.helpers import waymark_process
from tests.monitoring.conftest import sample


def test_the_monitor_process_samples_the_queue_and_answers_alerts(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "monitor.log"
    base = f"http://127.0.0.1:{port}"
    with waymark_process("monitor", log, REDIS_URL=redis_url, DATABASE_URL=database_url,
                         WAYMARK_API_KEYS=API_KEYS, WAYMARK_MONITOR_PORT=str(port),
                         WAYMARK_MONITOR_INTERVAL_S="0.2", WAYMARK_LOG_LEVEL="warning") as proc:
        deadline = time.monotonic() + 15
        text = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/metrics", timeout=2) as resp:
                    text = resp.read().decode()
                if sample(text, "waymark_queue_sampled_timestamp_seconds") > 0:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.1)
        assert sample(text, "waymark_queue_sampled_timestamp_seconds") > 0, log.read_text()
        req = urllib.request.Request(f"{base}/v1/alerts",
                                     headers={"Authorization": f"Bearer {READ_KEY}"})
        with urllib.request.urlopen(req, timeout=2) as resp:
            names = {a["name"] for a in json.loads(resp.read())}
        assert "WaymarkQueueOldestPendingHigh" in names
    assert proc.returncode == 0, log.read_text()
