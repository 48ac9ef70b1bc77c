"""The outbox's relay side in SQL: numbering committed rows, reading them in order, marking sent.

Rows are appended by ``aggregator.events.append`` in the transaction of the change they describe.
One relay at a time holds the session advisory lock ``RELAY_LOCK`` (a crashed relay's session
ends and frees it). Numbers are given in commit order and committed before anything is sent, so
the stream id ``0-<stream_no>`` of a row never changes.
"""

from __future__ import annotations

import asyncpg

from aggregator.db import Conn

RELAY_LOCK = 0x5741594E
KEEP_SENT_S = 86_400

_NUMBER = """
UPDATE outbox SET stream_no = n.no
FROM (SELECT seq, nextval('outbox_stream_no') AS no
      FROM (SELECT seq FROM outbox WHERE stream_no IS NULL ORDER BY seq LIMIT $1) s
      ORDER BY seq) n
WHERE outbox.seq = n.seq
"""
_PENDING = """
SELECT stream_no, event_id::text AS event_id, type, user_id, course_id, occurred_at,
       payload::text AS payload
FROM outbox WHERE stream_no IS NOT NULL AND sent_at IS NULL ORDER BY stream_no LIMIT $1
"""
_MARK = "UPDATE outbox SET sent_at = now() WHERE stream_no = ANY($1::int8[])"
_PRUNE = "DELETE FROM outbox WHERE sent_at < now() - make_interval(secs => $1)"
_RENUMBER = """
WITH moved AS (
    SELECT setval('outbox_stream_no', greatest($1, (SELECT last_value FROM outbox_stream_no))))
UPDATE outbox SET stream_no = NULL FROM moved WHERE sent_at IS NULL AND stream_no IS NOT NULL
"""


async def try_relay_lock(conn: Conn) -> bool:
    """Become the one relay, unless another session is."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK))


async def release_relay_lock(conn: Conn) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", RELAY_LOCK)


async def numbered_unsent(conn: Conn, limit: int) -> list[asyncpg.Record]:
    """Number up to ``limit`` new rows in commit order, then read the unsent ones in order."""
    await conn.execute(_NUMBER, limit)
    return await conn.fetch(_PENDING, limit)


async def mark_sent(conn: Conn, stream_nos: list[int]) -> None:
    await conn.execute(_MARK, stream_nos)


async def renumber_unsent(conn: Conn, above: int) -> int:
    """Number every unsent row again, after ``above``: the database was restored to a point
    before stream numbers it had already given out. Returns how many rows lost their number."""
    status = await conn.execute(_RENUMBER, above)
    return int(status.split()[-1])


_UNSENT_IDS = "SELECT event_id FROM outbox WHERE sent_at IS NULL"
_LAST_SENT = "SELECT coalesce(max(stream_no), 0) FROM outbox WHERE sent_at IS NOT NULL"
_MARK_RELAYED = """
UPDATE outbox SET stream_no = r.no, sent_at = now()
FROM unnest($1::uuid[], $2::int8[]) AS r(id, no)
WHERE outbox.event_id = r.id AND outbox.sent_at IS NULL
"""


async def unsent_event_ids(conn: Conn) -> list[object]:
    return [r["event_id"] for r in await conn.fetch(_UNSENT_IDS)]


async def last_sent_number(conn: Conn) -> int:
    """The highest stream number the database knows was sent (0: none it still holds)."""
    return int(await conn.fetchval(_LAST_SENT))


async def mark_relayed(conn: Conn, found: list[tuple[str, int]]) -> int:
    """Rows whose event is in the stream already (``(event_id, stream number)``) become sent
    under that number, as if the relay had sent them; return how many."""
    if not found:
        return 0
    status = await conn.execute(_MARK_RELAYED, [f[0] for f in found], [f[1] for f in found])
    return int(status.split()[-1])


async def prune_sent(conn: Conn, keep_s: int = KEEP_SENT_S) -> int:
    """Forget rows relayed more than ``keep_s`` ago (the stream has them); return how many."""
    status = await conn.execute(_PRUNE, keep_s)
    return int(status.split()[-1])
