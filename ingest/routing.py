"""A route of the HTTP API as data: what the router, the scope check and OpenAPI all read.

``ingest.routes`` lists every route once; ``add_routes`` registers them, each wrapped in the
check of its scope (``KeyRing.require``), so a handler never checks a credential itself. A
route without a scope is public (liveness, readiness, metrics, the OpenAPI document) and is
left out of the document.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ingest.context import KEYS
from ingest.errors import Handler


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    """The path template, as aiohttp and OpenAPI both write it (``/v1/users/{user_id}``)."""
    handler: Handler
    scope: str | None
    """The scope an API key needs; ``None`` for a public route."""
    summary: str = ""
    request: Any = None
    """The msgspec type of the JSON body, if the route takes one."""
    response: Any = None
    status: int = 200
    query: tuple[str, ...] = ()
    self_service: bool = False
    """A user token may call this route for its own ``{user_id}`` though it lacks the scope (a
    route without ``{user_id}``, e.g. the leaderboard: any user token may call it)."""
    media: str = "application/json"
    alt_media: tuple[str, ...] = ()
    """Other media types the route answers with when asked (a query parameter picks them)."""


def _checked(route: Route) -> Handler:
    """``route.handler`` behind the check of its scope (public routes unchanged)."""
    scope, handler, self_service = route.scope, route.handler, route.self_service
    if scope is None:
        return handler

    async def checked(request: web.Request) -> web.StreamResponse:
        request.app[KEYS].require(request, scope, self_service=self_service)
        return await handler(request)

    checked.__name__ = checked.__qualname__ = handler.__name__
    return checked


def add_routes(app: web.Application, routes: Iterable[Route]) -> None:
    """Register every route with its scope check."""
    for route in routes:
        if route.method == "GET":  # and HEAD, as aiohttp's add_get does
            app.router.add_get(route.path, _checked(route))
        else:
            app.router.add_route(route.method, route.path, _checked(route))
