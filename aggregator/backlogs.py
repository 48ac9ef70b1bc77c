"""Backlogs of work written to PostgreSQL but not yet done, for monitoring's gauges.

Each query counts rows of a table an older schema may lack: the caller decides what a missing
table means (``asyncpg.UndefinedTableError``).
"""

from __future__ import annotations

from aggregator.db import Conn

_OUTBOX = """
SELECT (SELECT count(*) FROM outbox WHERE stream_no IS NULL)
     + (SELECT count(*) FROM outbox WHERE stream_no IS NOT NULL AND sent_at IS NULL)
"""
_RECOMPUTE = """
SELECT coalesce(sum(greatest(learners_total - learners_done, 0)), 0)
FROM catalog_recompute WHERE finished_at IS NULL
"""


async def outbox_backlog(conn: Conn) -> int:
    """Domain events written but not yet numbered into, or sent to, the stream."""
    return int(await conn.fetchval(_OUTBOX))


async def recompute_backlog(conn: Conn) -> int:
    """Learners still to recompute after catalog changes, over unfinished recomputes."""
    return int(await conn.fetchval(_RECOMPUTE))
