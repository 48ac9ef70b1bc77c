"""HTTP handlers: decode, call a service, encode. No business rules here.

Scopes are checked before a handler runs (``ingest.routing``); ``request[PRINCIPAL]`` is set.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from aiohttp import web

from aggregator import catalog, read
from ingest.auth import PRINCIPAL, own_events_only
from ingest.body import body_format, decode_as, read_body
from ingest.context import POOL, QUEUE, RULES, SERVICE, SETTINGS
from ingest.errors import BadRequest, NotFound
from ingest.replica import reading
from ingest.request_log import note

_json = msgspec.json.Encoder()


def json_response(obj: object, status: int = 200) -> web.Response:
    return web.Response(body=_json.encode(obj), status=status, content_type="application/json")


async def post_events(request: web.Request) -> web.Response:
    app = request.app
    fmt = body_format(request)
    body = await read_body(request, app[SETTINGS].max_body_bytes, app[SETTINGS].body_timeout_s)
    own_events_only(request[PRINCIPAL], fmt, body)
    result = await app[SERVICE].ingest(fmt, body)
    note(request, accepted=result.accepted, duplicates=result.duplicates,
         rejected=len(result.rejected))
    return json_response(result, status=202)


def as_of(request: web.Request) -> datetime:
    """The ``as_of`` query value (RFC 3339 with an offset), else now."""
    raw = request.query.get("as_of")
    try:
        at = datetime.now(UTC) if raw is None else datetime.fromisoformat(raw)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise BadRequest("as_of must be an RFC 3339 time with an offset", code="invalid_query")
    return at


async def get_course_progress(request: web.Request) -> web.Response:
    user_id, course_id = request.match_info["user_id"], request.match_info["course_id"]
    at = as_of(request)
    async with reading(request) as conn:
        view = await read.course_progress(conn, user_id, course_id, at)
    if view is None:
        raise NotFound(f"no progress for user {user_id!r} in course {course_id!r}")
    return json_response(view)


async def put_course(request: web.Request) -> web.Response:
    app = request.app
    course_id = request.match_info["course_id"]
    body = await read_body(request, app[SETTINGS].max_body_bytes, app[SETTINGS].body_timeout_s)
    doc = decode_as("json", body, catalog.CourseCatalog)
    try:
        async with app[POOL].acquire() as conn:
            version, moved = await catalog.store(conn, course_id, doc)
            view = await catalog.load(conn, course_id)
    except catalog.CatalogError as e:
        raise BadRequest(str(e), code=e.code) from None
    app[RULES].forget(course_id)
    if moved:
        await app[QUEUE].enqueue_job("recompute_course", course_id, version)
    return json_response(view)


async def get_course(request: web.Request) -> web.Response:
    course_id = request.match_info["course_id"]
    async with request.app[POOL].acquire() as conn:
        view = await catalog.load(conn, course_id)
    if view is None:
        raise NotFound(f"no catalog for course {course_id!r}")
    return json_response(view)
