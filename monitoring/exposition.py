"""``/metrics`` and ``/health`` of every Waymark HTTP process (the server and the monitor).

Each process owns one registry (no globals); it is put on the app under ``REGISTRY``. The HTTP
server exposes it on a listener of its own (``metrics_listener``), away from the public API
port, unless it is told to serve it on the API port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

REGISTRY = web.AppKey("registry", CollectorRegistry)

log = structlog.get_logger()


async def health(request: web.Request) -> web.Response:
    """Liveness: the process answers. Readiness (its back ends) is another question."""
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def metrics_app(registry: CollectorRegistry) -> web.Application:
    """Only ``/metrics`` and ``/health``, for a private listener."""
    app = web.Application()
    app[REGISTRY] = registry
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health", health)
    return app


def metrics_listener(
    host: str, port: int
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context serving the app's registry on ``host:port`` while the app runs.

    A port that cannot be bound is logged (``metrics_listen_failed``) and the API keeps
    serving: Prometheus then sees the target down, which is what should page, not the API.
    """

    async def listening(app: web.Application) -> AsyncIterator[None]:
        runner = web.AppRunner(metrics_app(app[REGISTRY]), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            log.info("metrics_listening", url=f"http://{host}:{port}/metrics")
        except OSError as error:
            log.error("metrics_listen_failed", host=host, port=port, error=str(error))
        try:
            yield
        finally:
            await runner.cleanup()

    return listening
