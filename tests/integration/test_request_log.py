"""One canonical log line per request, and the request id on every line logged meanwhile."""

from __future__ import annotations

import re
from typing import Any

import structlog
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from tests.conftest import INGEST_KEY, READ_KEY
from tests.helpers import auth, event

MERGE = [structlog.contextvars.merge_contextvars]


def lines(logs: list[dict[str, Any]], name: str = "request") -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == name]


async def test_a_batch_logs_one_line_with_its_route_principal_and_counts(
    client: TestClient,
) -> None:
    batch = {"events": [event("course_viewed"), event("course_viewed", id="e-2"), {"id": "x"}]}
    with capture_logs(processors=MERGE) as logs:
        resp = await client.post("/v1/events", json=batch,
                                 headers=auth(INGEST_KEY) | {"X-Request-Id": "lb-7f3a:01"})
        again = await client.post("/v1/events", json=batch, headers=auth(INGEST_KEY))
    assert resp.status == 202 and resp.headers["X-Request-Id"] == "lb-7f3a:01"
    first, second = lines(logs)
    assert first | {"duration_ms": 0} == {
        "event": "request", "log_level": "info", "request_id": "lb-7f3a:01", "method": "POST",
        "route": "/v1/events", "status": 202, "duration_ms": 0, "principal": "ingest",
        "accepted": 2, "duplicates": 0, "rejected": 1,
    }
    assert first["duration_ms"] > 0
    assert (second["accepted"], second["duplicates"]) == (0, 2)
    assert second["request_id"] == again.headers["X-Request-Id"] != first["request_id"]


async def test_the_line_names_the_route_template_not_the_ids_in_the_path(
    client: TestClient,
) -> None:
    with capture_logs(processors=MERGE) as logs:
        resp = await client.get("/v1/users/u-secretive/courses/c-1", headers=auth(READ_KEY))
    assert resp.status == 404
    (line,) = lines(logs)
    assert line["route"] == "/v1/users/{user_id}/courses/{course_id}"
    assert (line["status"], line["principal"]) == (404, "reader")
    assert "u-secretive" not in repr(line)


async def test_an_insane_request_id_is_replaced_and_every_line_carries_the_id(
    client: TestClient,
) -> None:
    with capture_logs(processors=MERGE) as logs:
        resp = await client.post("/v1/events", json={"events": []}, headers={
            "Authorization": "Bearer wrong", "X-Request-Id": "x" * 65})
    assert resp.status == 401
    rid = resp.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    refused, line = lines(logs, "request_refused"), lines(logs)
    assert [e["request_id"] for e in refused + line] == [rid, rid]
    assert (line[0]["status"], line[0]["principal"]) == (401, None)
    assert "wrong" not in repr(logs)


async def test_unknown_paths_and_public_routes_are_logged_too(client: TestClient) -> None:
    with capture_logs(processors=MERGE) as logs:
        missing = await client.get("/v1/nothing-here")
        health = await client.get("/health")
    assert (missing.status, health.status) == (404, 200)
    assert "X-Request-Id" in missing.headers and "X-Request-Id" in health.headers
    assert [(e["route"], e["status"]) for e in lines(logs)] == [(None, 404), ("/health", 200)]
