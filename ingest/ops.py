"""Readiness: Redis, PostgreSQL and the schema (liveness and metrics: ``monitoring.exposition``)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from aggregator.db import pending_migrations
from ingest.context import POOL, REDIS
from ingest.handlers import json_response


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
