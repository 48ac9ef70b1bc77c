"""Read API handlers beyond one course, the reset endpoint, the SSE stream.

Thin edges: decode the query, call ``aggregator.queries``, encode. The SSE stream reads the
domain-event stream (``workers.outbox``) from the client's ``Last-Event-ID`` (or from its end)
and forwards that user's events; a comment line every ``KEEPALIVE_S`` notices gone clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import msgspec
from aiohttp import web

from aggregator import enrollments, queries
from ingest.body import decode_as, read_body
from ingest.context import SERVICE, SETTINGS
from ingest.errors import BadRequest, NotFound
from ingest.fanout import StreamFanout, TooSlow
from ingest.handlers import json_response
from ingest.replica import reading
from waymark.bootstrap import redis_client

FANOUT = web.AppKey("stream_fanout", StreamFanout)
MAX_ACTIVITY_DAYS = 400
KEEPALIVE_S = 15.0
_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


async def stream_resources(app: web.Application) -> AsyncIterator[None]:
    """The live stream's Redis client and its one reader (``ingest.fanout``) for this process."""
    settings = app[SETTINGS]
    assert settings.redis_url is not None
    # long socket timeout: the reader's XREAD blocks up to a second for new events
    client = await redis_client(settings, timeout_s=30, max_connections=64)
    app[FANOUT] = fanout = StreamFanout(client, settings.events_stream)
    reader = asyncio.create_task(fanout.run())
    try:
        yield
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await client.aclose()


def _int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be an integer in [{lo}, {hi}]", code="invalid_query")
    return value


def parse_date(request: web.Request, name: str, default: date) -> date:
    """The query value ``name`` as a date ``YYYY-MM-DD`` (400 ``invalid_query`` otherwise)."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a date YYYY-MM-DD", code="invalid_query") from None


async def list_courses(request: web.Request) -> web.Response:
    user_id = request.match_info["user_id"]
    limit = _int(request, "limit", 20, 1, queries.MAX_LIMIT)
    include = request.query.get("include")
    if include not in (None, "dropped"):
        raise BadRequest("include must be 'dropped'", code="invalid_query")
    try:
        async with reading(request) as conn:
            page = await queries.list_courses(
                conn, user_id, status=request.query.get("status"), limit=limit,
                cursor=request.query.get("cursor"), include_dropped=include == "dropped",
            )
    except queries.QueryError as e:
        raise BadRequest(str(e), code=e.code) from None
    return json_response(page)


async def enrollment(request: web.Request) -> web.Response:
    user_id, course_id = request.match_info["user_id"], request.match_info["course_id"]
    async with reading(request) as conn:
        view = await enrollments.read(conn, user_id, course_id)
    if view is None:
        raise NotFound(f"no progress for user {user_id!r} in course {course_id!r}")
    return json_response(view)


async def batch_get(request: web.Request) -> web.Response:
    app = request.app
    body = await read_body(request, app[SETTINGS].max_body_bytes)
    req = decode_as("json", body, queries.BatchGetRequest)
    async with reading(request) as conn:
        result = await queries.batch_get(conn, request.match_info["user_id"], req.course_ids)
    return json_response(result)


async def user_summary(request: web.Request) -> web.Response:
    user_id = request.match_info["user_id"]
    async with reading(request) as conn:
        view = await queries.user_summary(conn, user_id, datetime.now(UTC).date())
    if view is None:
        raise NotFound(f"no progress for user {user_id!r}", code="user_not_found")
    return json_response(view)


async def user_activity(request: web.Request) -> web.Response:
    today = datetime.now(UTC).date()
    end = parse_date(request, "to", today)
    start = parse_date(request, "from", end - timedelta(days=89))
    if start > end or (end - start).days >= MAX_ACTIVITY_DAYS:
        raise BadRequest(
            f"from must not be after to, and the range at most {MAX_ACTIVITY_DAYS} days",
            code="invalid_query",
        )
    async with reading(request) as conn:
        view = await queries.activity(conn, request.match_info["user_id"], start, end)
    return json_response(view)


async def reset_progress(request: web.Request) -> web.Response:
    app = request.app
    user_id, course_id = request.match_info["user_id"], request.match_info["course_id"]
    now_ms = int(time.time() * 1000)
    event_id = f"reset-{uuid.uuid4().hex}"
    body = msgspec.json.encode({"events": [{
        "id": event_id, "type": "course_reset", "user_id": user_id, "course_id": course_id,
        "ts": now_ms,
    }]})
    result = await app[SERVICE].ingest("json", body)
    if result.rejected:
        raise BadRequest(result.rejected[0].message, code=result.rejected[0].code)
    at = datetime.fromtimestamp(now_ms / 1000, UTC)
    return json_response(queries.ResetAccepted(event_id=event_id, reset_at=at), status=202)


async def user_stream(request: web.Request) -> web.StreamResponse:
    user_id = request.match_info["user_id"].encode()
    last = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    if last is not None and not _STREAM_ID.match(last):
        raise BadRequest("Last-Event-ID must be an id this stream sent", code="invalid_query")
    resp = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
    })
    await resp.prepare(request)
    # the client went away, or fell too far behind and will resume by Last-Event-ID
    with contextlib.suppress(ConnectionResetError, TooSlow):
        await resp.write(b"retry: 2000\n: connected\n\n")
        async for entry in request.app[FANOUT].entries(user_id, last, KEEPALIVE_S):
            await resp.write(b": keepalive\n\n" if entry is None else _sse(*entry))
    return resp


def _sse(entry_id: str, fields: dict[bytes, bytes]) -> bytes:
    event = {k.decode(): v.decode() for k, v in fields.items()}
    event["data"] = msgspec.json.decode(event.get("data", "{}"))
    payload = msgspec.json.encode(event)
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (entry_id.encode(), fields[b"type"], payload)
