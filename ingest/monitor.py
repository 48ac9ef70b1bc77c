"""``waymark monitor``: the queue sampler and alert evaluation as a process of their own.

For deployments that want the figures in one place whatever the number of HTTP servers: it
serves ``/metrics`` (queue gauges, backlogs, alert thresholds and states), ``/v1/alerts``
(scope ``read``) and ``/health`` on ``WAYMARK_HTTP_HOST:WAYMARK_MONITOR_PORT``. It takes no
events, so its ingest error rate is always 0: that alert is judged by each HTTP server and by
Prometheus.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from ingest import alerts, ops
from ingest.auth import KeyRing
from ingest.context import KEYS, METRICS, POOL, REDIS, SETTINGS
from ingest.errors import error_middleware
from ingest.metrics import IngestMetrics
from waymark.bootstrap import open_backends
from waymark.settings import Settings

log = structlog.get_logger()


async def _resources(app: web.Application) -> AsyncIterator[None]:
    async with open_backends(app[SETTINGS], pool_size=2) as backends:
        app[REDIS], app[POOL] = backends.redis, backends.pool
        yield


def create_monitor_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[error_middleware])
    app[SETTINGS] = settings
    app[KEYS] = KeyRing(settings.api_keys)
    app[METRICS] = IngestMetrics.create()
    app.cleanup_ctx.append(_resources)
    app.cleanup_ctx.append(alerts.monitor_ctx)
    app.router.add_get("/health", ops.health)
    app.router.add_get("/metrics", ops.metrics)
    app.router.add_get("/v1/alerts", alerts.get_alerts)
    return app


def run(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM."""
    url = f"http://{settings.http_host}:{settings.monitor_port}"
    log.info("monitor_listening", metrics=f"{url}/metrics", alerts=f"{url}/v1/alerts")
    web.run_app(create_monitor_app(settings), host=settings.http_host,
                port=settings.monitor_port, access_log=None, print=None, shutdown_timeout=5.0)
