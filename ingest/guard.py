"""The door of every ``/v1`` request: who is asking (``ingest.auth``), and whether they are over
their rate limit (``ingest.ratelimit``), before any body is read.

Each route's scope is checked where the route is registered (``ingest.routing``); the principal
resolved here is kept on the request. What is logged is the principal's name and the refusal
code, never a secret.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from ingest.context import KEYS, REDIS, SETTINGS
from ingest.errors import Handler, IngestError
from ingest.ratelimit import LIMITER, RateLimiter

log = structlog.get_logger()


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/v1/") and "Authorization" in request.headers:
        try:
            principal = request.app[KEYS].authenticate(request)
            await request.app[LIMITER].check(principal)
        except IngestError as e:
            log.info("request_refused", path=request.path, status=e.status, code=e.code)
            raise
        log.debug("request_authenticated", path=request.path, principal=principal.name)
    return await handler(request)


async def rate_limiter(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context, after the one that opens Redis."""
    app[LIMITER] = RateLimiter.from_settings(app[REDIS], app[SETTINGS])
    yield
