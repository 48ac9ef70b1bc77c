"""``waymark monitor``: the queue sampler and alert evaluation as a process of their own.

For deployments that want the figures in one place whatever the number of HTTP servers: it
serves ``/metrics`` (queue gauges, backlogs, alert thresholds and states), ``/v1/alerts`` (an API
key with scope ``read``) and ``/health`` on ``WAYMARK_HTTP_HOST:WAYMARK_MONITOR_PORT``. It takes
no events, so its ingest error rate is always 0: that alert is judged by each HTTP server and by
Prometheus. Errors are answered in the API's shape, ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from monitoring.alert_loop import MONITOR, AlertMonitor, get_alerts, running
from monitoring.exposition import REGISTRY, health, metrics
from monitoring.gauges import MonitorGauges
from waymark.bootstrap import open_backends
from waymark.settings import Settings
from waymark_client.wire import ErrorBody, ErrorDetail

log = structlog.get_logger()
SETTINGS = web.AppKey("settings", Settings)
GAUGES = web.AppKey("gauges", MonitorGauges)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_encode = msgspec.json.Encoder().encode


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str) -> web.Response:
    body = _encode(ErrorBody(error=ErrorDetail(code=code, message=message)))
    return web.Response(status=status, body=body, content_type="application/json")


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Refused as e:
        return _error(e.status, e.code, e.message)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return _error(e.status, "not_found" if e.status == 404 else "http_error", e.reason)
    except Exception:
        log.exception("unhandled_error", path=request.path, method=request.method)
        return _error(500, "internal_error", "internal error; the request was logged")


def require_read_key(request: web.Request) -> None:
    """An API key with scope ``read`` (compared in constant time with every key), or refused."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Refused(401, "missing_credentials", "missing bearer token")
    given, found = value.strip().encode(), None
    for key in request.app[SETTINGS].api_keys:
        if hmac.compare_digest(given, key.secret.encode()):
            found = key
    if found is None:
        raise Refused(401, "invalid_credentials", "unknown API key")
    if "read" not in found.scopes:
        raise Refused(403, "insufficient_scope", "this key lacks the 'read' scope")


async def alerts(request: web.Request) -> web.Response:
    require_read_key(request)
    return await get_alerts(request)


async def _alert_loop(app: web.Application) -> AsyncIterator[None]:
    async with open_backends(app[SETTINGS], pool_size=2) as backends:
        monitor = AlertMonitor(app[SETTINGS], backends.redis, backends.pool, app[GAUGES])
        app[MONITOR] = monitor
        async with running(monitor):
            yield


def create_monitor_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[errors])
    app[SETTINGS] = settings
    app[REGISTRY] = registry = CollectorRegistry()
    app[GAUGES] = MonitorGauges.create(registry)
    app.cleanup_ctx.append(_alert_loop)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/alerts", alerts)
    return app


def run(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM."""
    url = f"http://{settings.metrics_host}:{settings.monitor_port}"
    log.info("monitor_listening", metrics=f"{url}/metrics", alerts=f"{url}/v1/alerts")
    web.run_app(create_monitor_app(settings), host=settings.metrics_host,
                port=settings.monitor_port, access_log=None, print=None, shutdown_timeout=5.0)
