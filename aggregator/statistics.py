"""Planner statistics for tables that have never had any.

A new database fills fast: within a minute of load the learner tables hold hundreds of thousands
of rows, while autovacuum first analyzes a table only on its next round (every minute by
default) and then only once enough rows changed. Until then the planner knows nothing about how
rows spread over learners, so a statement that joins a batch's keys to a table can pick a hash
join over the whole table; in a soak of a fresh database the course rollup went from 7 to 110 ms
per batch in 75 seconds, then back to 0.3 ms after the first ANALYZE. The workers therefore
analyze, once, every table that has rows but no statistics yet. Later statistics are
autovacuum's: ANALYZE stores how many distinct learners there are as a share of the rows, so
estimates keep up with a growing table.
"""

from __future__ import annotations

from aggregator.db import Conn

FIRST_ANALYZE_ROWS = 1000
"""A table is analyzed once it holds this many rows; below it any plan is cheap."""

_NEVER_ANALYZED = """
SELECT relname FROM pg_stat_user_tables
WHERE schemaname = current_schema() AND last_analyze IS NULL AND last_autoanalyze IS NULL
  AND n_live_tup >= $1
ORDER BY relname
"""


async def analyze_new_tables(conn: Conn, min_rows: int = FIRST_ANALYZE_ROWS) -> list[str]:
    """ANALYZE each table of the schema that has ``min_rows`` rows and was never analyzed;
    return their names."""
    names: list[str] = [r["relname"] for r in await conn.fetch(_NEVER_ANALYZED, min_rows)]
    for name in names:
        await conn.execute('ANALYZE "{}"'.format(name.replace('"', '""')))
    return names
