"""The ledger of applied batches: what makes a re-delivered batch apply nothing.

A batch that fails as a whole is split in halves (``<id>.0``, ``<id>.1``, recursively) to
isolate a poison key. So a part may be applied only if neither it, nor an ancestor, nor a
descendant was applied before; the check and the insert run under a transaction-scoped advisory
lock on the root batch id, so two workers holding the same batch (an expired lease) serialize.
"""

from __future__ import annotations

from aggregator.db import Conn

RETENTION_S = 7 * 86400
"""Far longer than any lease: a batch can only come back while Redis still holds it."""


def lineage(part_id: str) -> list[str]:
    """``a.0.1`` → ``["a", "a.0", "a.0.1"]``."""
    parts = part_id.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


async def claim(conn: Conn, part_id: str, keys: int) -> bool:
    """Record ``part_id`` as applied by the current transaction; False if it must not apply."""
    root = part_id.split(".")[0]
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", root)
    # Descendants are the ids in [part_id + ".", part_id + "/") byte-wise ("/" follows "."):
    # a range the text_pattern_ops index answers even in a cached generic plan, where a LIKE
    # with a parameter would scan the whole ledger (which holds a week of batches).
    taken = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM applied_batches WHERE batch_id = ANY($1::text[]))"
        " OR EXISTS (SELECT 1 FROM applied_batches WHERE batch_id ~>=~ $2 AND batch_id ~<~ $3)",
        lineage(part_id), part_id + ".", part_id + "/",
    )
    if taken:
        return False
    await conn.execute(
        "INSERT INTO applied_batches (batch_id, keys) VALUES ($1, $2)", part_id, keys
    )
    return True


async def prune(conn: Conn, retention_s: int = RETENTION_S) -> int:
    """Forget batches applied longer ago than ``retention_s``; return how many."""
    status = await conn.execute(
        "DELETE FROM applied_batches WHERE applied_at < now() - make_interval(secs => $1)",
        float(retention_s),
    )
    return int(status.split()[-1])
