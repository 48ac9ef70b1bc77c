"""``/metrics`` and ``/health`` of every Waymark HTTP process (the server and the monitor).

Each process owns one registry (no globals); it is put on the app under ``REGISTRY``.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

REGISTRY = web.AppKey("registry", CollectorRegistry)


async def health(request: web.Request) -> web.Response:
    """Liveness: the process answers. Readiness (its back ends) is another question."""
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
