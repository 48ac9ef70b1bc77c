"""The HTTP application factory and the ``serve`` entry point.

Resources are created in ``cleanup_ctx`` in dependency order and closed in reverse; nothing is
created at import time. Shutdown (SIGTERM/SIGINT) stops accepting, lets in-flight requests
finish (``shutdown_timeout``), then closes the pools.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from ingest.auth import KeyRing
from ingest.context import (
    BUFFER,
    CERT_SIGNER,
    KEYS,
    METRICS,
    POOL,
    PRESSURE,
    QUEUE,
    REDIS,
    RULES,
    SERVICE,
    SETTINGS,
)
from ingest.cors import cors_middleware
from ingest.errors import Handler, error_middleware
from ingest.guard import guard, rate_limiter
from ingest.metering import MeteredIngestService
from ingest.metrics import IngestMetrics
from ingest.paths import path_ids
from ingest.reads import stream_resources
from ingest.replica import read_pool, send_read_lag
from ingest.request_log import request_log, send_request_id
from ingest.routes import ROUTES
from ingest.routing import add_routes
from ingest.rules import CourseRulesCache
from ingest.service import Backpressure
from ingest.tokens import TokenVerifier, load_jwks
from monitoring.alert_loop import MONITOR, AlertMonitor, running
from monitoring.exposition import REGISTRY, metrics_listener
from waymark.bootstrap import cert_signer, job_queue, open_backends
from waymark.settings import Settings

log = structlog.get_logger()
PRESSURE_SAMPLE_S = 0.25
SERVER_OPTIONS: dict[str, bool] = {"auto_decompress": False}
"""Request-handler options: bodies are inflated by ``ingest.body`` within the size limit."""


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with open_backends(settings) as backends:
        app[REDIS], app[POOL], app[BUFFER] = backends.redis, backends.pool, backends.buffer
        app[QUEUE] = queue = await job_queue(settings)
        app[RULES] = rules = CourseRulesCache(backends.pool, settings.catalog_cache_s)
        app[PRESSURE] = pressure = Backpressure(settings.high_water_keys)
        app[SERVICE] = MeteredIngestService(
            settings, backends.buffer, rules, app[METRICS], pressure
        )
        sampler = asyncio.create_task(_sample_pressure(app))
        try:
            yield
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            await queue.aclose()


async def _sample_pressure(app: web.Application) -> None:
    """Keep the pending-key count fresh so the high-water check costs nothing per request."""
    buffer, pressure, gauge = app[BUFFER], app[PRESSURE], app[METRICS].pending_keys
    while True:
        try:
            pressure.by_shard = await buffer.pending_by_shard()
            gauge.set(pressure.pending_keys)
        except Exception as e:  # Redis down: writes will answer 503 on their own
            log.debug("pressure_sample_failed", error=type(e).__name__)
        await asyncio.sleep(PRESSURE_SAMPLE_S)


async def _alert_loop(app: web.Application) -> AsyncIterator[None]:
    """Monitoring's alert loop, over this server's clients (after ``_resources``)."""
    m = app[METRICS]
    monitor = AlertMonitor(app[SETTINGS], app[REDIS], app[POOL], m.monitor, m.event_answers)
    app[MONITOR] = monitor
    async with running(monitor):
        yield


@web.middleware
async def ingest_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path != "/v1/events":
        return await handler(request)
    start = time.perf_counter()
    response = await handler(request)
    m = request.app[METRICS]
    m.request_seconds.observe(time.perf_counter() - start)
    m.requests.labels(str(response.status)).inc()
    if request.content_length is not None:
        m.payload_bytes.labels("wire").observe(request.content_length)
    return response


def create_app(settings: Settings, index: int = 0) -> web.Application:
    """The HTTP app; ``index`` (``waymark serve --index``) offsets its metrics port."""
    app = web.Application(
        # CORS first: its headers must be on every answer, errors included.
        middlewares=[cors_middleware(settings.cors_origins), request_log, ingest_metrics,
                     error_middleware, guard, path_ids],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    jwks = load_jwks(settings.user_token_jwks) if settings.user_token_jwks else None
    tokens = TokenVerifier(settings.user_token_secrets, audience=settings.user_token_audience,
                           public_keys=jwks)
    app[KEYS] = KeyRing(settings.api_keys, tokens)
    app[CERT_SIGNER] = cert_signer(settings)
    app[METRICS] = metrics = IngestMetrics.create()
    app[REGISTRY] = metrics.registry
    app.cleanup_ctx.append(_resources)
    app.cleanup_ctx.append(read_pool)
    app.cleanup_ctx.append(_alert_loop)
    app.cleanup_ctx.append(rate_limiter)
    app.cleanup_ctx.append(stream_resources)
    app.on_response_prepare.append(send_request_id)
    app.on_response_prepare.append(send_read_lag)
    address = settings.metrics_address
    if address is not None:
        app.cleanup_ctx.append(metrics_listener(address[0], address[1] + index))
    add_routes(app, [r for r in ROUTES if address is None or r.path != "/metrics"])
    return app


def run(settings: Settings, index: int = 0) -> None:
    """Serve until SIGINT/SIGTERM."""
    try:
        import uvloop
    except ImportError:  # optional speed-up; the standard loop works the same
        uvloop = None  # type: ignore[assignment]
    if uvloop is not None:
        uvloop.install()
    log.info("http_listening", url=f"http://{settings.http_host}:{settings.http_port}")
    web.run_app(
        create_app(settings, index),
        host=settings.http_host,
        port=settings.http_port,
        access_log=None,
        print=None,
        shutdown_timeout=10.0,
        auto_decompress=SERVER_OPTIONS["auto_decompress"],
        reuse_port=settings.http_processes > 1,
    )
