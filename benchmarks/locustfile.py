"""Locust load test of the ingest endpoint with the standard workloads (loopback only).

    .venv/bin/pip install locust
    WAYMARK_KEY=... WAYMARK_WORKLOAD=heartbeat .venv/bin/locust -f benchmarks/locustfile.py \\
        --host http://127.0.0.1:8080 --headless -u 20 -r 5 -t 30s

Each simulated client posts SDK-style batches from ``benchmarks/workloads.py`` and honours
``Retry-After`` on 429/503, as the SDK does.
"""

from __future__ import annotations

import itertools
import os
import time

from locust import HttpUser, between, task

from benchmarks.workloads import WORKLOADS, batches

_clients = itertools.count()


class LearnerPlatform(HttpUser):  # type: ignore[misc]
    wait_time = between(0.0, 0.05)

    def on_start(self) -> None:
        workload = WORKLOADS[os.environ.get("WAYMARK_WORKLOAD", "heartbeat")]
        self.batches = batches(workload, next(_clients), 64)
        self.client.headers["Authorization"] = f"Bearer {os.environ['WAYMARK_KEY']}"

    @task
    def post_batch(self) -> None:
        body = {"events": next(self.batches)}
        with self.client.post("/v1/events", json=body, catch_response=True) as r:
            if r.status_code == 202:
                r.success()
            elif r.status_code in (429, 503):
                r.success()  # back-pressure, not an error: wait as told
                time.sleep(float(r.headers.get("Retry-After", "1")))
            else:
                r.failure(f"{r.status_code}: {r.text[:200]}")
