"""CORS for the ``/v1`` API, so a learning platform's pages can call Waymark from the browser.

Only the exact origins of ``WAYMARK_CORS_ORIGINS`` get CORS headers; with none configured the
server sends none, and browsers keep refusing cross-origin calls. A preflight (``OPTIONS`` with
``Access-Control-Request-Method``) from an allowed origin is answered here, before
authentication: browsers never send credentials on a preflight. Any other request runs as usual
and its answer, errors included (a ``429`` must reach the SDK with its readable
``Retry-After``), gets the headers. This middleware must be the outermost one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Middleware

from ingest.errors import Handler

ALLOW_METHODS = "GET, POST, PUT, DELETE"
ALLOW_HEADERS = "Authorization, Content-Type, Content-Encoding"
EXPOSE_HEADERS = "Retry-After, X-Request-Id, Waymark-Read-Lag-Ms"
MAX_AGE_S = 7200
"""How long a browser may reuse a preflight answer (Chromium caps it at two hours)."""
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def parse_origins(origins: Iterable[str]) -> frozenset[str]:
    """Exact origins (``scheme://host[:port]``, no path, no wildcard); ``ValueError`` otherwise."""
    allowed = set()
    for raw in origins:
        origin = raw.strip()
        if not origin:
            continue
        if not _ORIGIN.match(origin):
            raise ValueError(
                f"WAYMARK_CORS_ORIGINS: {origin!r} is not an origin like https://learn.example.com"
            )
        allowed.add(origin.lower())
    return frozenset(allowed)


def cors_middleware(origins: Iterable[str]) -> Middleware:
    """The middleware for ``origins``; it adds nothing when there are none."""
    allowed = parse_origins(origins)

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not allowed or not request.path.startswith("/v1/"):
            return await handler(request)
        origin = request.headers.get("Origin")
        permitted = origin is not None and origin.lower() in allowed
        if (
            permitted
            and request.method == "OPTIONS"
            and "Access-Control-Request-Method" in request.headers
        ):
            preflight = web.Response(status=204)
            _allow(preflight, origin)
            preflight.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
            preflight.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
            preflight.headers["Access-Control-Max-Age"] = str(MAX_AGE_S)
            return preflight
        try:
            response = await handler(request)
        except web.HTTPException as e:  # redirects and the like pass through the error mapper
            if permitted:
                _allow(e, origin)
            e.headers.add("Vary", "Origin")
            raise
        if permitted:
            _allow(response, origin)
        response.headers.add("Vary", "Origin")  # the answer depends on Origin: caches must know
        return response

    return cors


def _allow(response: web.StreamResponse, origin: str | None) -> None:
    assert origin is not None
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
