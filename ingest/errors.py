"""The ingest package's exception root and the one middleware that maps it to HTTP.

Every error a client can see has a stable string ``code``; the body is always
``{"error": {"code", "message"}}`` and never carries a traceback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
import structlog
from aiohttp import web

from waymark_client.wire import ErrorBody, ErrorDetail

log = structlog.get_logger()
_encode = msgspec.json.Encoder().encode


class IngestError(Exception):
    """Root of every error answered to a client."""

    status = 400
    code = "bad_request"
    headers: dict[str, str] | None = None

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequest(IngestError):
    status, code = 400, "invalid_batch"


class Unauthorized(IngestError):
    status, code = 401, "unauthorized"


class Forbidden(IngestError):
    status, code = 403, "forbidden"


class NotFound(IngestError):
    status, code = 404, "not_found"


class TooLarge(IngestError):
    status, code = 413, "body_too_large"


class UnsupportedMedia(IngestError):
    status, code = 415, "unsupported_media_type"


class RequestTimeout(IngestError):
    """The body did not arrive within the read deadline (a trickling, slow-loris client)."""

    status, code = 408, "body_timeout"


class TooManyRequests(IngestError):
    """The rate limit of this key or user is exceeded; nothing of the request was read."""

    status, code = 429, "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


class Unavailable(IngestError):
    """Nothing of the request was taken; retrying later is safe."""

    status, code = 503, "unavailable"

    def __init__(self, message: str, *, code: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message, code=code)
        self.headers = {"Retry-After": str(retry_after)}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = _encode(ErrorBody(error=ErrorDetail(code=code, message=message)))
    return web.Response(
        status=status, body=body, content_type="application/json", headers=headers
    )


_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except IngestError as e:
        return error_response(e.status, e.code, e.message, e.headers)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        code = _HTTP_CODES.get(e.status, "http_error")
        allow = e.headers.get("Allow")  # a 405 names the methods the route has (RFC 9110)
        return error_response(e.status, code, e.reason, {"Allow": allow} if allow else None)
    except Exception:
        log.exception("unhandled_error", path=request.path, method=request.method)
        return error_response(500, "internal_error", "internal error; the request was logged")
