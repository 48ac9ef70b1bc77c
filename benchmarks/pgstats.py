"""What PostgreSQL says about its own work: per table (rows written, HOT updates, dead tuples,
vacuums, size) and per statement (calls, time, rows), read between two moments of a benchmark.

The statement figures need ``pg_stat_statements`` preloaded (``fresh_servers(...,
statements=True)``); the table figures come from the cumulative statistics every server keeps.
"""

from __future__ import annotations

import re
from typing import Any

import asyncpg

STATEMENT_TIMING = {"shared_preload_libraries": "pg_stat_statements",
                    "pg_stat_statements.max": "1000", "pg_stat_statements.track": "top"}

WRITTEN = ("chapter_progress", "course_progress", "user_summary", "daily_activity",
           "course_activity_days", "learner_sessions", "chapter_event_log", "applied_batches",
           "outbox")
"""The tables the apply step writes on a heartbeat batch."""

_TABLES = """
SELECT relname, n_live_tup, n_dead_tup, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del,
       autovacuum_count, autoanalyze_count, pg_total_relation_size(relid) AS bytes
FROM pg_stat_user_tables
"""
_STATEMENTS = """
SELECT queryid, calls, total_exec_time, rows, query FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


async def enable_statement_timing(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    finally:
        await conn.close()


async def table_stats(conn: asyncpg.Connection) -> dict[str, dict[str, int]]:
    """Cumulative counters of every table, by name."""
    return {r["relname"]: {k: int(v) for k, v in r.items() if k != "relname"}
            for r in await conn.fetch(_TABLES)}


async def statement_stats(conn: asyncpg.Connection) -> dict[int, dict[str, Any]]:
    """Cumulative calls, milliseconds and rows of every statement, by query id."""
    return {r["queryid"]: {"calls": r["calls"], "ms": r["total_exec_time"], "rows": r["rows"],
                           "query": r["query"]}
            for r in await conn.fetch(_STATEMENTS) if r["queryid"] is not None}


def table_interval(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]],
                   tables: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Per table between two readings: updates, the share of them HOT, rows inserted; and at
    the second reading dead tuples, vacuums and size."""
    out: dict[str, dict[str, Any]] = {}
    for name in tables:
        a, b = after.get(name), before.get(name, {})
        if a is None:
            continue
        upd = a["n_tup_upd"] - b.get("n_tup_upd", 0)
        hot = a["n_tup_hot_upd"] - b.get("n_tup_hot_upd", 0)
        out[name] = {"inserted": a["n_tup_ins"] - b.get("n_tup_ins", 0), "updated": upd,
                     "hot_ratio": round(hot / upd, 3) if upd else None,
                     "live": a["n_live_tup"], "dead": a["n_dead_tup"],
                     "autovacuums": a["autovacuum_count"], "mb": round(a["bytes"] / 2**20, 1)}
    return out


def statement_label(query: str) -> str:
    """A short, stable name for a statement: its first words, whitespace squeezed."""
    return re.sub(r"\s+", " ", query).strip()[:70]


def statement_interval(before: dict[int, dict[str, Any]], after: dict[int, dict[str, Any]],
                       top: int = 12) -> list[dict[str, Any]]:
    """The ``top`` statements by time spent between two readings: calls, ms in all, ms per
    call and rows per call."""
    rows = []
    for qid, a in after.items():
        b = before.get(qid, {"calls": 0, "ms": 0.0, "rows": 0})
        calls = a["calls"] - b["calls"]
        if calls <= 0:
            continue
        ms = a["ms"] - b["ms"]
        rows.append({"statement": statement_label(a["query"]), "calls": calls,
                     "ms": round(ms, 1), "ms_per_call": round(ms / calls, 3),
                     "rows_per_call": round((a["rows"] - b["rows"]) / calls, 1)})
    rows.sort(key=lambda r: -r["ms"])
    return rows[:top]
