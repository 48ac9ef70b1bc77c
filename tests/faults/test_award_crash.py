"""A worker SIGKILLed between an award's commit and its outbox relay: nothing lost, nothing twice.

The award, its points and its ``achievement.awarded`` row commit in one transaction; the worker
dies before it acknowledges the batch (and before its relay can send the row on). The next
worker takes the batch again — the ledger stops it — and relays the outbox: every learner ends
with the award once, its points once, and one ``achievement.awarded`` entry on the stream.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
import asyncpg
from redis.asyncio import Redis

from aggregator.events import EVENTS_STREAM
from tests.faults.harness import AUTH, Stack, wait_idle
from tests.helpers import event, now_ms

USERS = [f"u-{i}" for i in range(6)]


async def _awarded_on_stream(redis_url: str) -> Counter[str]:
    async with Redis.from_url(redis_url) as r:
        entries = await r.xrange(EVENTS_STREAM)
    return Counter(f[b"user_id"].decode() for _, f in entries
                   if f[b"type"] == b"achievement.awarded")


async def test_a_worker_killed_after_an_award_commits_neither_loses_nor_repeats_it(
    stack: Stack,
) -> None:
    stack.start_serve()
    await stack.wait_http()
    t = now_ms() - 60_000
    async with aiohttp.ClientSession(headers=AUTH) as s:
        body = {"points": 10, "criteria": {"kind": "chapters_completed", "threshold": 1}}
        async with s.put(f"{stack.url}/v1/achievements/first", json=body) as r:
            assert r.status == 200
        events = [event("chapter_completed", id=f"c-{u}", user_id=u, chapter_id="ch-1",
                        ts=t + i) for i, u in enumerate(USERS)]
        async with s.post(f"{stack.url}/v1/events", json={"events": events}) as r:
            assert r.status == 202
    crashing = stack.start_worker(crash="after_commit")
    assert crashing.wait(30) == 137
    stack.start_worker()
    await wait_idle(stack.redis_url)
    deadline = time.monotonic() + 30
    while (on_stream := await _awarded_on_stream(stack.redis_url)) != Counter(USERS):
        assert time.monotonic() < deadline, on_stream
        await asyncio.sleep(0.2)
    conn = await asyncpg.connect(stack.database_url)
    try:
        awards = await conn.fetch("SELECT user_id FROM achievement_awards")
        ledger = await conn.fetch("SELECT user_id, points FROM points_ledger")
        outbox = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE type = 'achievement.awarded'")
    finally:
        await conn.close()
    assert sorted(r["user_id"] for r in awards) == USERS
    assert sorted((r["user_id"], r["points"]) for r in ledger) == [(u, 10) for u in USERS]
    assert outbox in (0, len(USERS))  # relayed rows may be pruned, never duplicated
    await asyncio.sleep(1)  # a late second relay would show here
    assert await _awarded_on_stream(stack.redis_url) == Counter(USERS)
