"""Hostile input against the real server: a clear 4xx, nothing stored, never a traceback.

``tests/integration/test_rejections.py`` covers the documented rejections (bad fields, gzip
bombs, size limits, content types); these are the cases an attacker tries on top.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import auth, event
from tests.integration.test_rejections import buffer_is_empty, error_of
from tests.pipeline import Pipeline
from tests.security.conftest import serve
from waymark.settings import Settings


async def text_of(resp: Any) -> str:
    text = await resp.text()
    assert "Traceback" not in text and 'File "' not in text
    return str(text)


async def test_ids_with_separators_never_collide(client: TestClient, pipeline: Pipeline) -> None:
    pairs = [("a:b", "c", 10), ("a", "b:c", 20), ("a.b", "c", 30), ("a", "b.c", 40)]
    events = [event("chapter_completed", user_id=u, course_id=c, chapter_id="x:y", time_spent_s=t)
              for u, c, t in pairs]
    resp = await client.post("/v1/events", json={"events": events}, headers=auth())
    assert (await resp.json())["accepted"] == 4
    await pipeline.flush()
    for user, course, spent in pairs:
        resp = await client.get(f"/v1/users/{user}/courses/{course}", headers=auth())
        view = await resp.json()
        assert (view["user_id"], view["course_id"], view["time_spent_s"]) == (user, course, spent)


@pytest.mark.parametrize(("field", "value"), [
    ("user_id", "u|1"), ("course_id", "c|"), ("chapter_id", "|"), ("user_id", "{wm.0}"),
    ("user_id", "u}"), ("course_id", "{rl.k.admin}"), ("chapter_id", "ch\n1"),
    ("user_id", "u\x00"), ("course_id", "c*"), ("user_id", "ü"),
])
async def test_ids_that_could_escape_a_redis_key_are_rejected(
    client: TestClient, redis_url: str, field: str, value: str
) -> None:
    ev = {**event("chapter_progress", chapter_id="ch-1", progress=5), field: value}
    resp = await client.post("/v1/events", json={"events": [ev]}, headers=auth())
    body = await resp.json()
    assert (resp.status, body["accepted"], body["rejected"][0]["code"]) == (202, 0, "invalid_id")
    assert await buffer_is_empty(redis_url)


NON_FINITE = [
    ("chapter_progress", {"chapter_id": "ch-1", "progress": math.nan}),
    ("chapter_progress", {"chapter_id": "ch-1", "progress": math.inf}),
    ("chapter_progress", {"chapter_id": "ch-1", "progress": 5, "position_s": math.inf}),
    ("chapter_progress", {"chapter_id": "ch-1", "progress": 5, "time_spent_s": -math.inf}),
    ("quiz_attempt", {"quiz_id": "q", "attempt_id": "a", "score": math.inf, "max_score": 1}),
    ("quiz_attempt", {"quiz_id": "q", "attempt_id": "a", "score": 1, "max_score": math.inf}),
    ("quiz_attempt", {"quiz_id": "q", "attempt_id": "a", "score": 1, "max_score": 2,
                      "duration_s": math.inf}),
    ("course_viewed", {"source_id": "s", "seq": 2**64 - 1}),
    ("course_viewed", {"source_id": "s", "seq": 2**53 + 1}),
    ("course_viewed", {"ts": 2**63 - 1}),
    ("course_viewed", {"ts": -(2**63)}),
]


@pytest.mark.parametrize(("type_", "fields"), NON_FINITE)
async def test_non_finite_and_huge_numbers_in_msgpack_are_rejected(
    client: TestClient, redis_url: str, type_: str, fields: dict[str, Any]
) -> None:
    body = msgspec.msgpack.encode({"events": [event(type_, **fields)]})
    resp = await client.post("/v1/events", data=body, headers={
        "Content-Type": "application/msgpack", **auth()})
    assert resp.status == 202, await text_of(resp)
    answer = await resp.json()
    assert answer["accepted"] == 0 and answer["rejected"][0]["code"] in (
        "invalid_value", "ts_out_of_range")
    assert await buffer_is_empty(redis_url)


@pytest.mark.parametrize("literal", [b"1e400", b"-1e400", b"Infinity", b"NaN", b"1" * 5000])
async def test_huge_or_non_finite_json_numbers_get_a_clear_answer(
    client: TestClient, redis_url: str, literal: bytes
) -> None:
    ev = msgspec.json.encode(event("chapter_progress", chapter_id="ch-1", progress=1))
    body = b'{"events": [' + ev[:-1] + b', "position_s": ' + literal + b"}]}"
    resp = await client.post("/v1/events", data=body, headers={
        "Content-Type": "application/json", **auth()})
    text = await text_of(resp)
    assert resp.status in (202, 400), text
    if resp.status == 202:
        assert (await resp.json())["accepted"] == 0
    assert await buffer_is_empty(redis_url)


async def test_a_huge_json_seq_is_rejected_not_a_server_error(
    client: TestClient, redis_url: str
) -> None:
    ev = event("course_viewed", source_id="s", seq=10**30)
    resp = await client.post("/v1/events", json={"events": [ev]}, headers=auth())
    assert resp.status == 202, await text_of(resp)
    assert (await resp.json())["rejected"][0]["code"] == "invalid_value"
    assert await buffer_is_empty(redis_url)


async def test_deep_nesting_inside_an_event_is_a_clear_error(
    client: TestClient, redis_url: str
) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    body = b'{"events": [{"id": "e", "type": "course_viewed", "extra": ' + deep + b"}]}"
    resp = await client.post("/v1/events", data=body, headers={
        "Content-Type": "application/json", **auth()})
    await text_of(resp)
    assert resp.status in (400, 413)
    assert await buffer_is_empty(redis_url)


@pytest.mark.parametrize("ctype", [
    "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "text/json",
    "application/xml", "application/json-patch+json", "",
])
async def test_wrong_content_types_are_415(client: TestClient, redis_url: str, ctype: str) -> None:
    body = msgspec.json.encode({"events": [event("course_viewed")]})
    resp = await client.post("/v1/events", data=body, headers={"Content-Type": ctype, **auth()})
    assert resp.status == 415
    assert await error_of(resp) == "unsupported_content_type"
    assert await buffer_is_empty(redis_url)


async def test_a_trickling_body_is_cut_off_by_the_read_deadline(
    settings: Settings, redis_url: str
) -> None:
    async with await serve(settings.replace(body_timeout_s=1.0)) as c:
        reader, writer = await asyncio.open_connection(c.server.host, c.server.port)
        writer.write(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer test-admin-secret\r\nContent-Length: 1000\r\n\r\n"
                     b'{"events": [')
        await writer.drain()
        started = asyncio.get_running_loop().time()
        for _ in range(3):  # a byte now and then, never the whole body
            await asyncio.sleep(0.4)
            writer.write(b" ")
            await writer.drain()
        head = await asyncio.wait_for(reader.read(4096), 5)
        took = asyncio.get_running_loop().time() - started
        writer.close()
        assert head.startswith(b"HTTP/1.1 408"), head
        assert b"body_timeout" in head and b"Traceback" not in head
        assert took < 3
    assert await buffer_is_empty(redis_url)
