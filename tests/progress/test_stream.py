"""The live stream (SSE): a user's changes as they are applied, resumable by Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from tests.helpers import auth, event
from tests.integration.test_pipeline import post, put_catalog
from tests.pipeline import Pipeline


async def _next_event(resp: ClientResponse) -> dict[str, Any]:
    """The next ``id``/``event``/``data`` block (comments skipped)."""
    fields: dict[str, Any] = {}
    async with asyncio.timeout(10.0):
        while True:
            line = (await resp.content.readline()).decode().rstrip("\n")
            if not line:
                if "data" in fields:
                    return fields
                continue
            if line.startswith(":") or line.startswith("retry:"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = json.loads(value) if name == "data" else value


async def test_a_stream_gets_changes_it_did_not_send_and_resumes_after_reconnect(
    client: TestClient, pipeline: Pipeline
) -> None:
    await put_catalog(client)
    resp = await client.get("/v1/users/u-1/stream", headers=auth())
    assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
    await resp.content.readline()  # connected
    # another client, another user's event first: the stream filters it out
    await post(client, [event("chapter_completed", user_id="u-2", chapter_id="ch-1"),
                        event("chapter_completed", user_id="u-1", chapter_id="ch-1")])
    await pipeline.flush()  # the worker's relay moves the outbox to the stream
    first = await _next_event(resp)
    assert first["event"] == "chapter.completed"
    assert first["data"]["user_id"] == "u-1" and first["data"]["data"]["chapter_id"] == "ch-1"
    second = await _next_event(resp)
    assert second["event"] == "course.progressed"
    resp.close()
    # while disconnected
    await post(client, [event("chapter_completed", user_id="u-1", chapter_id="ch-2")])
    await pipeline.flush()
    again = await client.get("/v1/users/u-1/stream",
                             headers=auth() | {"Last-Event-ID": second["id"]})
    resumed = await _next_event(again)
    assert resumed["event"] == "chapter.completed"
    assert resumed["data"]["data"]["chapter_id"] == "ch-2"
    assert resumed["id"] > second["id"] or len(resumed["id"]) > len(second["id"])
    again.close()
    bad = await client.get("/v1/users/u-1/stream", headers=auth() | {"Last-Event-ID": "x"})
    assert bad.status == 400
