"""Operational endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from aggregator.db import pending_migrations
from ingest.context import METRICS, POOL, REDIS
from ingest.handlers import json_response


async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(request.app[REDIS].ping(), 1.0)
        checks["redis"] = "ok"
    except Exception as e:  # any failure means "not ready", reported by name
        checks["redis"] = f"error: {type(e).__name__}"
    try:
        async with asyncio.timeout(2.0), request.app[POOL].acquire() as conn:
            pending = await pending_migrations(conn)
        checks["postgres"] = "ok"
        checks["migrations"] = "ok" if not pending else f"pending: {', '.join(pending)}"
    except Exception as e:  # as above
        checks["postgres"] = f"error: {type(e).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return json_response({"status": "ok" if ok else "unavailable", "checks": checks},
                         status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
