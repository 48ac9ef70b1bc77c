"""The domain-event stream against the outbox: every event once, none skipped, by identity."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import asyncpg
from redis.asyncio import Redis

STREAM = "waymark:events"


async def relayed(dsn: str, redis_url: str, timeout_s: float = 30) -> tuple[Counter[str], set[str]]:
    """Once the outbox is all sent: the stream's event ids (with their counts), the outbox's."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout_s
        while await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"):
            assert time.monotonic() < deadline, "the outbox relay never caught up"
            await asyncio.sleep(0.2)
        outbox = {str(r["event_id"]) for r in await conn.fetch("SELECT event_id FROM outbox")}
    finally:
        await conn.close()
    async with Redis.from_url(redis_url) as r:
        entries = await r.xrange(STREAM)
    stream = Counter(fields[b"event_id"].decode() for _, fields in entries)
    return stream, outbox


async def assert_each_domain_event_once(dsn: str, redis_url: str) -> int:
    stream, outbox = await relayed(dsn, redis_url)
    assert outbox, "no domain event was written"
    assert [e for e, n in stream.items() if n > 1] == []  # none twice
    assert sorted(outbox - set(stream)) == []  # none skipped
    return len(outbox)
