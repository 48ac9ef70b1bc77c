"""A learner's data: their export, a course's export, their erasure. Thin edges.

Each answer is logged once for the audit (who, which learner or course, when, how much — never
the data) and counted in ``waymark_learner_data_requests_total{kind}``. Exports are streamed
(``aiohttp.web.StreamResponse``) from a server-side cursor in one read-only snapshot.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import msgspec
import structlog
from aiohttp import web
from redis.exceptions import RedisError

from aggregator import course_export, learner_data, learner_export
from buffer.erasure import BufferErasure
from ingest.auth import PRINCIPAL
from ingest.context import METRICS, POOL, REDIS, SETTINGS
from ingest.erasure import erase_learner
from ingest.errors import BadRequest, NotFound, Unavailable
from ingest.handlers import json_response

log = structlog.get_logger()
CHUNK_BYTES = 64 * 1024
_MEDIA = {"json": "application/json", "ndjson": "application/x-ndjson"}


class ErasureView(msgspec.Struct, kw_only=True):
    """``DELETE /v1/users/{user_id}``: the learner is erased as of ``erased_at``."""

    user_id: str
    erased_at: datetime


async def _send(
    request: web.Request, resp: web.StreamResponse, chunks: AsyncIterator[bytes]
) -> int:
    """Write ``chunks`` in pieces of about ``CHUNK_BYTES``; return the bytes sent."""
    await resp.prepare(request)
    pending, sent = bytearray(), 0
    async for chunk in chunks:
        pending += chunk
        if len(pending) >= CHUNK_BYTES:
            await resp.write(bytes(pending))
            sent += len(pending)
            pending.clear()
    await resp.write(bytes(pending))
    await resp.write_eof()
    return sent + len(pending)


def _audit(request: web.Request, kind: str, **fields: object) -> None:
    request.app[METRICS].learner_data.labels(kind).inc()
    log.info("learner_data", kind=kind, by=request[PRINCIPAL].name, **fields)


async def export_user(request: web.Request) -> web.StreamResponse:
    user_id = request.match_info["user_id"]
    fmt = request.query.get("format", "json")
    if fmt not in learner_export.FORMATS:
        raise BadRequest("format must be json or ndjson", code="invalid_query")
    at = datetime.now(UTC)
    async with (
        request.app[POOL].acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
            if not await learner_data.holds_learner(conn, user_id):
                raise NotFound(f"no data for user {user_id!r}", code="user_not_found")
            resp = web.StreamResponse(headers={
                "Content-Type": _MEDIA[fmt],
                "Content-Disposition": f'attachment; filename="waymark-{user_id}.{fmt}"',
            })
            sent = await _send(
                request, resp, learner_export.export_chunks(conn, user_id, fmt, at)
            )
    _audit(request, "export", user_id=user_id, format=fmt, bytes=sent)
    return resp


async def export_course(request: web.Request) -> web.StreamResponse:
    course_id = request.match_info["course_id"]
    async with (
        request.app[POOL].acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
            if not await course_export.has_course(conn, course_id):
                raise NotFound(f"no catalog and no learners for course {course_id!r}",
                               code="course_not_found")
            resp = web.StreamResponse(headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="waymark-{course_id}.csv"',
            })
            sent = await _send(request, resp, course_export.csv_chunks(conn, course_id))
    _audit(request, "course_export", course_id=course_id, bytes=sent)
    return resp


async def erase_user(request: web.Request) -> web.Response:
    app = request.app
    user_id = request.match_info["user_id"]
    buffer = BufferErasure(app[REDIS], app[SETTINGS].shards)
    try:
        done = await erase_learner(
            app[POOL], buffer, app[REDIS], app[SETTINGS].events_stream, user_id
        )
    except RedisError:  # the transaction rolled back, or a repeat finishes the stream's part
        raise Unavailable("the buffer is unavailable; retry the erasure later") from None
    _audit(request, "erasure", user_id=user_id, erased_at=done.erased_at.isoformat(),
           rows=done.rows, buffered=done.buffered, stream_entries=done.stream_entries)
    return json_response(ErasureView(user_id=user_id, erased_at=done.erased_at))
