"""Bad input gets a clear status and code, and changes nothing else."""

from __future__ import annotations

import gzip
import io
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from buffer.layout import SHARDS_KEY
from tests.conftest import INGEST_KEY, READ_KEY
from tests.helpers import auth, event, now_ms
from tests.pipeline import Pipeline


async def buffer_is_empty(redis_url: str) -> bool:
    """No buffer key in Redis but the shard count every process records at start."""
    async with Redis.from_url(redis_url) as r:
        keys = [k async for k in r.scan_iter("wm:*")]
    return keys in ([], [SHARDS_KEY.encode()])


async def error_of(resp: Any) -> str:
    body = await resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return str(body["error"]["code"])


class FromNow(int):
    """A ts this many ms from the moment the test runs (not from collection: a full run takes
    longer than the future a ts may be ahead)."""


BAD_EVENTS = [
    ("invalid_id", {"user_id": "u 1"}),
    ("invalid_id", {"course_id": "c{1}"}),
    ("invalid_id", {"user_id": "x" * 129}),
    ("invalid_id", {"chapter_id": ""}),
    ("invalid_value", {"progress": 101}),
    ("invalid_value", {"progress": -1}),
    ("invalid_value", {"time_spent_s": 3601}),
    ("invalid_value", {"position_s": -0.5}),
    ("invalid_value", {"progress": "50"}),
    ("invalid_value", {"progress": True}),
    ("invalid_value", {"ts": "2026-11-21T10:00:04"}),
    ("unknown_field", {"extra": 1}),
    ("missing_field", {"progress": None}),
    ("unknown_type", {"type": "chapter_watched"}),
    ("ts_out_of_range", {"ts": FromNow(-91 * 86400 * 1000)}),
    ("ts_out_of_range", {"ts": FromNow(10 * 60 * 1000)}),
]


@pytest.mark.parametrize(("code", "change"), BAD_EVENTS)
async def test_a_bad_event_is_rejected_by_index_and_the_rest_accepted(
    client: TestClient, redis_url: str, code: str, change: dict[str, Any]
) -> None:
    good = event("chapter_progress", chapter_id="ch-1", progress=10)
    bad = event("chapter_progress", chapter_id="ch-1", progress=10)
    bad.update({k: now_ms() + v if isinstance(v, FromNow) else v for k, v in change.items()})
    bad = {k: v for k, v in bad.items() if v is not None}
    resp = await client.post("/v1/events", json={"events": [good, bad]}, headers=auth())
    assert resp.status == 202
    body = await resp.json()
    assert body["accepted"] == 1
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [(1, code)]
    assert body["rejected"][0]["message"]


async def test_an_oversized_event_is_rejected(client: TestClient) -> None:
    ev = event("quiz_attempt", quiz_id="q", attempt_id="a", score=1, max_score=2,
               responses=[{"question_id": f"q{i}", "text": "x" * 4000} for i in range(10)])
    resp = await client.post("/v1/events", json={"events": [ev]}, headers=auth())
    body = await resp.json()
    assert body["accepted"] == 0 and body["rejected"][0]["code"] == "event_too_large"


async def test_a_batch_of_only_bad_events_stores_nothing(
    client: TestClient, pipeline: Pipeline, redis_url: str
) -> None:
    bad = event("chapter_progress", chapter_id="ch 1", progress=10)
    resp = await client.post("/v1/events", json={"events": [bad]}, headers=auth())
    assert (await resp.json())["accepted"] == 0
    assert await buffer_is_empty(redis_url)


BAD_REQUESTS = [
    (400, "malformed_body", b"{not json", {}),
    (400, "invalid_batch", b'{"events": {}}', {}),
    (400, "invalid_batch", b'{"events": [], "extra": 1}', {}),
    (400, "invalid_batch", b"[1, 2]", {}),
    (400, "malformed_body", b'{"events": [{"progress": NaN}]}', {}),
    (400, "malformed_body", b'{"events": ' + b"[" * 5000 + b"]" * 5000 + b"}", {}),
    (415, "unsupported_content_type", b"{}", {"Content-Type": "text/plain"}),
    (415, "unsupported_content_encoding", b"{}", {"Content-Encoding": "br"}),
    (400, "invalid_gzip", b"not gzip", {"Content-Encoding": "gzip"}),
]


@pytest.mark.parametrize(("status", "code", "body", "headers"), BAD_REQUESTS)
async def test_an_undecodable_request_answers_its_status_and_stores_nothing(
    client: TestClient, redis_url: str, status: int, code: str, body: bytes,
    headers: dict[str, str],
) -> None:
    h = {"Content-Type": "application/json", **auth(), **headers}
    resp = await client.post("/v1/events", data=body, headers=h)
    assert resp.status == status
    assert await error_of(resp) == code
    assert await buffer_is_empty(redis_url)


async def test_a_body_over_the_limit_is_413(client: TestClient, redis_url: str) -> None:
    big = b'{"events": [], "sent_at": "' + b"x" * (1024 * 1024) + b'"}'
    resp = await client.post("/v1/events", data=io.BytesIO(big),
                             headers={"Content-Type": "application/json", **auth()})
    assert resp.status == 413
    assert await buffer_is_empty(redis_url)


async def test_a_gzip_bomb_is_cut_off_at_the_limit(client: TestClient, redis_url: str) -> None:
    bomb = gzip.compress(b'{"events": [' + b" " * (64 * 1024 * 1024) + b"]}")
    assert len(bomb) < 200_000
    resp = await client.post("/v1/events", data=io.BytesIO(bomb), headers={
        "Content-Type": "application/json", "Content-Encoding": "gzip", **auth()})
    assert resp.status == 413
    assert await error_of(resp) == "body_too_large"
    assert await buffer_is_empty(redis_url)


async def test_more_events_than_the_batch_limit_is_413(client: TestClient) -> None:
    events = [event("course_viewed") for _ in range(1001)]
    resp = await client.post("/v1/events", json={"events": events}, headers=auth())
    assert resp.status == 413
    assert await error_of(resp) == "too_many_events"


@pytest.mark.parametrize(("headers", "status", "code"), [
    ({}, 401, "missing_credentials"),
    ({"Authorization": "Bearer nope"}, 401, "invalid_credentials"),
    ({"Authorization": "Basic abc"}, 401, "missing_credentials"),
    (auth(READ_KEY), 403, "insufficient_scope"),
])
async def test_bad_auth_is_refused_before_anything_is_read(
    client: TestClient, redis_url: str, headers: dict[str, str], status: int, code: str
) -> None:
    resp = await client.post("/v1/events", json={"events": [event("course_viewed")]},
                             headers=headers)
    assert resp.status == status
    assert await error_of(resp) == code
    assert await buffer_is_empty(redis_url)


async def test_an_ingest_key_cannot_read(client: TestClient) -> None:
    resp = await client.get("/v1/users/u-1/courses/c-1", headers=auth(INGEST_KEY))
    assert resp.status == 403


async def test_gzip_and_msgpack_bodies_are_accepted(client: TestClient) -> None:
    events = [event("chapter_progress", chapter_id="ch-1", progress=5)]
    packed = msgspec.msgpack.encode({"events": events})
    resp = await client.post("/v1/events", data=gzip.compress(packed), headers={
        "Content-Type": "application/msgpack", "Content-Encoding": "gzip", **auth()})
    assert resp.status == 202
    assert (await resp.json())["accepted"] == 1


async def test_an_unknown_course_progress_is_404(client: TestClient) -> None:
    resp = await client.get("/v1/users/u-404/courses/c-404", headers=auth())
    assert resp.status == 404
    assert await error_of(resp) == "not_found"


async def test_a_wrong_method_is_405_with_the_allowed_methods(client: TestClient) -> None:
    resp = await client.request("TRACE", "/v1/events", headers=auth())
    assert resp.status == 405
    assert await error_of(resp) == "method_not_allowed"
    assert "POST" in resp.headers["Allow"]


async def test_ids_in_paths_follow_the_id_rule(client: TestClient) -> None:
    for path in ("/v1/courses/a%00b", "/v1/users/a%20b/courses/c-1",
                 "/v1/users/u-1/courses/c%3B1"):
        resp = await client.get(path, headers=auth())
        assert resp.status == 400, path
        assert await error_of(resp) == "invalid_id"
