"""Metrics move by the right amounts through an end-to-end run; /v1/alerts answers with them."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client import generate_latest

from monitoring import alerts as a
from monitoring.alert_loop import MONITOR
from tests.conftest import INGEST_KEY, READ_KEY
from tests.helpers import auth, event
from tests.monitoring.conftest import DASHBOARD, RULES, exported_names, sample
from tests.pipeline import Pipeline

PROMQL_BUILTINS = {"up"}


async def scrape(client: TestClient) -> str:
    resp = await client.get("/metrics")
    assert resp.status == 200
    return await resp.text()


async def post(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/v1/events", json=body, headers=auth())
    assert resp.status == 202, await resp.text()
    answer: dict[str, Any] = await resp.json()
    return answer


async def until(check: Any, within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition never held")


async def test_counters_gauges_and_histograms_move_by_what_a_run_did(
    client: TestClient, pipeline: Pipeline
) -> None:
    dup = event("chapter_progress", chapter_id="ch-1", progress=40.0, time_spent_s=5)
    events = [
        dup,
        dup,
        event("chapter_completed", chapter_id="ch-2", user_id="u-2"),
        event("chapter_progress", chapter_id="ch-1", user_id="u-3", progress=10.0),
        event("chapter_progress", chapter_id="ch-1", user_id="not an id!", progress=1.0),
    ]
    sent_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 30))
    answer = await post(client, {"sent_at": sent_at, "events": events})
    assert (answer["accepted"], answer["duplicates"], len(answer["rejected"])) == (3, 1, 1)
    code = answer["rejected"][0]["code"]

    async def three_pending() -> bool:
        return sample(await scrape(client), "waymark_queue_pending_keys") == 3

    await until(three_pending)
    text = await scrape(client)
    assert sample(text, "waymark_ingest_events_total", result="accepted") == 3
    assert sample(text, "waymark_ingest_events_total", result="duplicate") == 1
    assert sample(text, "waymark_ingest_events_total", result="rejected") == 1
    assert sample(text, "waymark_ingest_rejected_events_total", code=code) == 1
    assert sample(text, "waymark_ingest_requests_total", status="202") == 1
    assert sample(text, "waymark_ingest_request_seconds_count") == 1
    assert sample(text, "waymark_ingest_batch_events_sum") == 5
    assert sample(text, "waymark_ingest_payload_bytes_count", form="decoded") == 1
    assert sample(text, "waymark_ingest_payload_bytes_count", form="wire") == 1
    assert sample(text, "waymark_ingest_clock_skew_seconds_count") == 1
    assert sample(text, "waymark_ingest_clock_skew_seconds_bucket", le="10.0") == 0
    assert sample(text, "waymark_ingest_clock_skew_seconds_bucket", le="60.0") == 1  # 30 s
    assert sample(text, "waymark_queue_oldest_pending_seconds") < 30
    assert sample(text, "waymark_queue_inflight_batches") == 0
    assert sample(text, "waymark_queue_dead_letter_batches") == 0

    assert await pipeline.flush() == 3
    worker = generate_latest(pipeline.state.metrics.registry).decode()
    assert sample(worker, "waymark_flush_batch_keys_sum") == 3
    assert sample(worker, "waymark_flush_seconds_count") == sample(
        worker, "waymark_flush_batch_keys_count")
    assert sample(worker, "waymark_event_lag_seconds_count") == 3
    assert sample(worker, "waymark_rows_written_total", table="chapter_progress") == 3
    assert sample(worker, "waymark_flush_errors_total") == 0

    async def drained() -> bool:
        return sample(await scrape(client), "waymark_queue_pending_keys") == 0

    await until(drained)


async def test_alerts_need_the_read_scope_and_list_every_alert(client: TestClient) -> None:
    assert (await client.get("/v1/alerts")).status == 401
    assert (await client.get("/v1/alerts", headers=auth(INGEST_KEY))).status == 403
    resp = await client.get("/v1/alerts", headers=auth(READ_KEY))
    assert resp.status == 200
    alerts = {x["name"]: x for x in await resp.json()}
    assert set(alerts) == set(a.ALERTS)
    for x in alerts.values():
        assert set(x) == {"name", "state", "value", "threshold", "since"}
        assert x["state"] in ("ok", "firing")
    assert alerts[a.QUEUE_DEPTH]["state"] == "ok"
    assert alerts[a.HEARTBEAT]["state"] == "firing"  # no worker reports to this Redis


async def test_alerts_see_the_workers_through_their_reports(
    client: TestClient, pipeline: Pipeline
) -> None:
    pipeline.state.metrics.heartbeat.set(time.time())
    await pipeline.state.reporter.publish()

    async def heartbeat_ok() -> bool:
        resp = await client.get("/v1/alerts", headers=auth(READ_KEY))
        states = {x["name"]: x for x in await resp.json()}
        return bool(states[a.HEARTBEAT]["state"] == "ok")

    await until(heartbeat_ok)


def promql_names(expr: str) -> set[str]:
    names = set(re.findall(r"\b(waymark_[a-z0-9_]+|up)\b", expr))
    return names


def rule_expressions() -> list[str]:
    return [RULES.read_text()]  # the whole file: expressions, and names in comments too


def dashboard_expressions() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]


async def test_every_metric_in_the_rules_and_the_dashboard_is_exported(
    client: TestClient, pipeline: Pipeline
) -> None:
    await post(client, {"events": [event("chapter_completed", chapter_id="ch-1")]})
    await pipeline.flush()
    exported = exported_names(await scrape(client))
    exported |= exported_names(generate_latest(pipeline.state.metrics.registry).decode())
    exprs = rule_expressions() + dashboard_expressions()
    assert len(dashboard_expressions()) >= 12
    used = set().union(*(promql_names(e) for e in exprs)) - PROMQL_BUILTINS
    assert used - exported == set()
    spec = {
        "waymark_ingest_events_total", "waymark_ingest_requests_total",
        "waymark_ingest_request_seconds_bucket", "waymark_queue_pending_keys",
        "waymark_queue_oldest_pending_seconds", "waymark_queue_inflight_batches",
        "waymark_queue_dead_letter_batches", "waymark_flush_batch_keys_bucket",
        "waymark_flush_seconds_bucket", "waymark_flush_errors_total",
        "waymark_event_lag_seconds_bucket", "waymark_worker_last_heartbeat_timestamp_seconds",
    }
    assert spec <= exported  # the stable names


async def test_without_redis_the_queue_is_unknown_and_the_heartbeat_alert_fires(
    client: TestClient, redis_server: Any
) -> None:
    monitor = client.server.app[MONITOR]
    redis_server.stop()
    try:
        states = {s.name: s for s in await monitor.tick()}
    finally:
        redis_server.start()
    assert (states[a.QUEUE_DEPTH].value, states[a.QUEUE_DEPTH].state) == (None, "ok")
    assert (states[a.HEARTBEAT].value, states[a.HEARTBEAT].state) == (None, "firing")


async def test_a_transient_apply_failure_counts_as_a_retry(pipeline: Pipeline) -> None:
    pipeline.state.flusher.on_transient()
    worker = generate_latest(pipeline.state.metrics.registry).decode()
    assert sample(worker, "waymark_flush_retries_total") == 1
    assert sample(worker, "waymark_flush_errors_total") == 0
