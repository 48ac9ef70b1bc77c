"""One canonical log line per request, and a request id on every line logged meanwhile.

The id is the client's or proxy's ``X-Request-Id`` when it is a sane one (1 to 64 characters
among ``A-Z a-z 0-9 . _ : -``), else a fresh one; it is bound with structlog's contextvars for
the request's lifetime and sent back in the response's ``X-Request-Id``. The line (``request``)
holds the method, the route's path template (never the raw path, with its ids), the status, the
duration, the principal's name (never a credential) and what a handler noted (``note``), such as
the events a batch accepted. This middleware is the outermost but for CORS.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import structlog
from aiohttp import web

from ingest.auth import PRINCIPAL
from ingest.errors import Handler

log = structlog.get_logger()
REQUEST_ID = web.RequestKey("request_id", str)
_NOTES = web.RequestKey("log_notes", dict[str, int])
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
CLIENT_CLOSED = 499
"""The status logged when the client went away before an answer (nginx's convention)."""


def note(request: web.Request, **fields: int) -> None:
    """Add figures to the request's canonical log line."""
    request.setdefault(_NOTES, {}).update(fields)


def request_id(given: str | None) -> str:
    """``given`` if it is a sane id, else a new one."""
    return given if given is not None and _SANE_ID.match(given) else uuid.uuid4().hex


@web.middleware
async def request_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    structlog.contextvars.clear_contextvars()
    request[REQUEST_ID] = rid = request_id(request.headers.get("X-Request-Id"))
    structlog.contextvars.bind_contextvars(request_id=rid)
    start, status = time.perf_counter(), 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as e:  # a redirect or the like, raised through on purpose
        status = e.status
        raise
    except asyncio.CancelledError:
        status = CLIENT_CLOSED
        raise
    finally:
        resource = request.match_info.route.resource
        principal = request.get(PRINCIPAL)
        log.info(
            "request",
            method=request.method,
            route=None if resource is None else resource.canonical,
            status=status,
            duration_ms=round((time.perf_counter() - start) * 1000, 2),
            principal=None if principal is None else principal.name,
            **request.get(_NOTES, {}),
        )
        structlog.contextvars.clear_contextvars()


async def send_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every answer, errors and streams included, names its id."""
    rid = request.get(REQUEST_ID)
    if rid is not None:
        response.headers["X-Request-Id"] = rid
