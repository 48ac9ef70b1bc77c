"""Erasing a learner everywhere, and refusing their old events afterwards.

The order (each step's reason):

1. The relay lock (``aggregator.outbox.RELAY_LOCK``): no relay is then holding the learner's
   outbox rows on their way to the stream, so deleting those rows stops them for good.
2. In one PostgreSQL transaction: the learner's erasure lock, exclusively (every apply
   transaction holds it shared for its learners, ``aggregator.tombstones``; one lock per bucket
   of 1/64 of the learners), so no batch of theirs is being applied meanwhile; every row of
   every table in ``aggregator.learner_data``.
3. The buffer, atomically on the learner's shard (``buffer.erasure``): every pending, leased
   and dead-lettered entry, and the tombstone at ``erased_ms``, the Redis clock's now. From here
   on, the merge script refuses their events with ``ts`` ≤ ``erased_ms`` (``user_erased``,
   :func:`refusals`); a batch a worker drained before drops their entries by the tombstone once
   it gets the lock.
4. Still in the transaction: the tombstone row and ``user.erased`` in the outbox; commit.
5. The domain-event stream: entries of the learner relayed before step 1 are deleted; so is
   the rate-limit bucket of their user tokens.

Erasing again when nothing was left answers the same ``erased_at`` and emits nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from aggregator import learner_data
from aggregator.events import DomainEvent, append
from aggregator.outbox import RELAY_LOCK
from aggregator.tombstones import ERASURE_LOCK
from buffer.erasure import AnyRedis, BufferErasure
from buffer.merge_buffer import ShardWrite, Written
from ingest.auth import Principal
from ingest.ratelimit import RateLimiter
from waymark_client.wire import Rejection

STREAM_PAGE = 1000

_TOMBSTONE = """
INSERT INTO erased_users (user_id, erased_ms, erased_at) VALUES ($1, $2, $3)
ON CONFLICT (user_id) DO UPDATE SET erased_ms = excluded.erased_ms,
    erased_at = excluded.erased_at, erasures = erased_users.erasures + 1
"""


@dataclass(frozen=True, slots=True)
class Erasure:
    user_id: str
    erased_at: datetime
    rows: int
    """PostgreSQL rows removed now (0 on a repeat)."""
    buffered: int
    """Buffer entries removed now."""
    stream_entries: int
    """Domain-event stream entries removed now."""


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


async def erase_learner(
    pool: asyncpg.Pool[asyncpg.Record], buffer: BufferErasure, redis: AnyRedis, stream: str,
    user_id: str,
) -> Erasure:
    """Erase ``user_id`` everywhere (see the module docstring for the order)."""
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", RELAY_LOCK)
        try:
            async with conn.transaction():
                await conn.execute(
                    "SELECT pg_advisory_xact_lock($1, waymark_erasure_bucket($2))",
                    ERASURE_LOCK, user_id,
                )
                previous = await conn.fetchval(
                    "SELECT erased_ms FROM erased_users WHERE user_id = $1", user_id
                )
                rows = sum((await learner_data.erase(conn, user_id)).values())
                top = await _top_id(redis, stream)
                done = await buffer.erase(user_id, previous, rows)
                if done.erased_ms != previous:
                    at = _at(done.erased_ms)
                    await conn.execute(_TOMBSTONE, user_id, done.erased_ms, at)
                    await append(conn, [DomainEvent(
                        type="user.erased", user_id=user_id, course_id="", occurred_at=at,
                        data={"erased_at": at.isoformat()},
                    )])
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", RELAY_LOCK)
    removed = await _drop_from_stream(redis, stream, user_id, top)
    await redis.delete(RateLimiter.key(Principal(f"user:{user_id}", frozenset(), user_id)))
    return Erasure(user_id, _at(done.erased_ms), rows, done.entries, removed)


async def _top_id(redis: AnyRedis, stream: str) -> str | None:
    last = await redis.xrevrange(stream, count=1)
    return last[0][0].decode() if last else None


async def _drop_from_stream(redis: AnyRedis, stream: str, user_id: str, top: str | None) -> int:
    """Delete the learner's entries (but ``user.erased``) up to ``top``, page by page."""
    if top is None:
        return 0
    user, removed, start = user_id.encode(), 0, "-"
    while True:
        page = await redis.xrange(stream, min=start, max=top, count=STREAM_PAGE)
        mine = [eid for eid, f in page if f.get(b"user_id") == user
                and f.get(b"type") != b"user.erased"]
        if mine:
            removed += int(await redis.xdel(stream, *mine))
        if len(page) < STREAM_PAGE:
            return removed
        start = "(" + page[-1][0].decode()


def refusals(writes: Mapping[int, ShardWrite], written: Mapping[int, Written]) -> list[Rejection]:
    """The ``user_erased`` rejection of each event the merge refused (flag ``e``), by index.

    The merge script checks each learner's tombstone in the same atomic step as it stores the
    request's events: an event with ``ts`` (clock skew corrected) at or before its learner's
    erasure is refused, however close the erasure came to the request.
    """
    out = []
    for shard, w in writes.items():
        answer = written[shard]
        if "e" not in answer.flags:
            continue
        users = w.request.users
        for pos, flag in enumerate(answer.flags):
            if flag == "e":
                user = users[w.request.events[pos].user_slot - 1]
                out.append(Rejection(
                    index=w.indexes[pos], code="user_erased",
                    message=f"user {user!r} was erased at {_at(answer.erased[user]).isoformat()};"
                            " events at or before that time are refused",
                ))
    return out
