"""Helpers of the progress-model tests: reads, the outbox and the stream."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from tests.helpers import auth
from tests.pipeline import Pipeline


async def get(client: TestClient, path: str, status: int = 200, **kw: Any) -> Any:
    resp = await client.get(path, headers=auth(), **kw)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def stop_background_relay(pipeline: Pipeline) -> None:
    """Tests that drive the relay themselves stop the worker's own relay loop."""
    relays = [t for t in pipeline.state.background
              if getattr(t.get_coro(), "__name__", "") == "relay_forever"]
    assert relays, "the worker runs no outbox relay to stop"
    for task in relays:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def outbox(database_url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch("SELECT * FROM outbox ORDER BY seq")
    finally:
        await conn.close()


def types_of(rows: list[Any]) -> list[tuple[str, str]]:
    return [(r["type"], r["user_id"]) for r in rows]
