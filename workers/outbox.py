"""The outbox relay: committed domain events from PostgreSQL to the Redis Stream, exactly once.

One relay runs at a time (a session advisory lock; a crashed relay's session ends and frees it; the
SQL is ``aggregator.outbox``). It first gives the unnumbered rows their stream numbers in commit
order and commits that, then adds each numbered, unsent row with the explicit stream id
``0-<stream_no>``, in order, and marks the rows sent. Redis refuses an id at or below the stream's
last one, so a row added before a crash and offered again after it is recognised (and only marked),
never added twice; and since rows are added in number order by one relay, everything below the last
added id is in the stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog
from redis.exceptions import ResponseError

from aggregator import outbox
from aggregator.events import EVENTS_STREAM
from buffer.cluster import RedisClient

log = structlog.get_logger()

STREAM_MAXLEN = 1_000_000
RELAY_INTERVAL_S = 0.2
PRUNE_EVERY_S = 60.0

Hook = Callable[[list[int]], Awaitable[None]]


def stream_id(stream_no: int) -> str:
    return f"0-{stream_no}"


async def _last_number(redis: Any, stream: str) -> int:
    """The number of the stream's last entry (0 for an empty stream)."""
    last = await redis.xrevrange(stream, count=1)
    return int(last[0][0].split(b"-")[1]) if last else 0


async def _numbered_before_the_stream(redis: Any, stream: str, first: Any) -> bool:
    """Would ``first`` (the lowest unsent row) land at or below the stream's last entry as
    *another* event? Then the database is behind the stream, as after a restore to an earlier
    point, and its numbers would be taken for duplicates. A row the relay added before a crash,
    and could not mark sent, is in the stream under its own number with its own event id."""
    number = int(first["stream_no"])
    if number > await _last_number(redis, stream):
        return False
    found = await redis.xrange(stream, min=stream_id(number), max=stream_id(number))
    return not found or found[0][1].get(b"event_id", b"").decode() != first["event_id"]


def _duplicate(result: Any) -> bool:
    return isinstance(result, ResponseError) and "equal or smaller" in str(result)


async def relay_once(
    pool: asyncpg.Pool[asyncpg.Record],
    redis: RedisClient,
    stream: str = EVENTS_STREAM,
    *,
    limit: int = 500,
    after_add: Hook | None = None,
) -> int:
    """Relay up to ``limit`` events; return how many were newly added to the stream.

    ``after_add`` runs between adding and marking sent (tests crash the relay there).
    """
    async with pool.acquire() as conn:
        if not await outbox.try_relay_lock(conn):
            return 0
        try:
            rows = await outbox.numbered_unsent(conn, limit)
            if rows and await _numbered_before_the_stream(redis, stream, rows[0]):
                renumbered = await outbox.renumber_unsent(conn, await _last_number(redis, stream))
                log.warning("outbox_renumbered", rows=renumbered,
                            reason="stream numbers ahead of the database (restored?)")
                rows = await outbox.numbered_unsent(conn, limit)
            if not rows:
                return 0
            pipe = redis.pipeline(transaction=False)
            for r in rows:
                pipe.xadd(
                    stream,
                    {
                        "event_id": r["event_id"], "type": r["type"], "user_id": r["user_id"],
                        "course_id": r["course_id"],
                        "occurred_at": r["occurred_at"].isoformat(), "data": r["payload"],
                    },
                    id=stream_id(r["stream_no"]),
                    maxlen=STREAM_MAXLEN,
                    approximate=True,
                )
            results = await pipe.execute(raise_on_error=False)
            added = 0
            for result in results:
                if isinstance(result, Exception) and not _duplicate(result):
                    raise result
                added += not isinstance(result, Exception)
            numbers = [r["stream_no"] for r in rows]
            if after_add is not None:
                await after_add(numbers)
            await outbox.mark_sent(conn, numbers)
            return added
        finally:
            await outbox.release_relay_lock(conn)


async def prune_sent(
    pool: asyncpg.Pool[asyncpg.Record], keep_s: int = outbox.KEEP_SENT_S
) -> int:
    """Forget rows relayed more than ``keep_s`` ago (the stream has them)."""
    async with pool.acquire() as conn:
        return await outbox.prune_sent(conn, keep_s)


async def relay_forever(
    pool: asyncpg.Pool[asyncpg.Record], redis: RedisClient, stream: str = EVENTS_STREAM
) -> None:
    """Relay until cancelled: at once while there is a backlog, else every few hundred ms."""
    pruned_at = time.monotonic()
    task = asyncio.current_task()
    while True:
        if task is not None and task.cancelling():
            # a client library can swallow a cancellation and return or raise its own error:
            # the relay was asked to stop, so it stops
            raise asyncio.CancelledError
        try:
            if time.monotonic() - pruned_at > PRUNE_EVERY_S:
                pruned_at = time.monotonic()
                await prune_sent(pool)
            if await relay_once(pool, redis, stream):
                continue
        except Exception as e:  # Redis or PostgreSQL away: the rows wait in the outbox
            log.warning("outbox_relay_failed", error=type(e).__name__)
        await asyncio.sleep(RELAY_INTERVAL_S)
