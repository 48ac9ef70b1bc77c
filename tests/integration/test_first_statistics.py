"""Tables a new database filled before autovacuum analyzed them get statistics from the workers."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from aggregator.statistics import analyze_new_tables


async def test_a_filled_table_without_statistics_is_analyzed_once(database_url: str) -> None:
    schema = f"stats_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(f"SET search_path = {schema}")
        await conn.execute("CREATE TABLE filled (user_id text, n int) WITH "
                           "(autovacuum_enabled = false)")
        await conn.execute("CREATE TABLE small (user_id text) WITH (autovacuum_enabled = false)")
        await conn.execute("INSERT INTO filled SELECT 'u' || (g % 500), g "
                           "FROM generate_series(1, 3000) g")
        await conn.execute("INSERT INTO small SELECT 'u' || g FROM generate_series(1, 10) g")
        await conn.execute("SELECT pg_stat_force_next_flush()")
        for _ in range(50):  # the counters of another backend's writes arrive within a second
            if await conn.fetchval("SELECT n_live_tup FROM pg_stat_user_tables "
                                   "WHERE schemaname = $1 AND relname = 'filled'", schema):
                break
            await asyncio.sleep(0.1)

        assert await analyze_new_tables(conn, min_rows=1000) == ["filled"]
        distinct = await conn.fetchval(
            "SELECT n_distinct FROM pg_stats WHERE schemaname = $1 AND tablename = 'filled' "
            "AND attname = 'user_id'", schema)
        assert distinct == pytest.approx(-500 / 3000)  # learners as a share of the rows
        assert await analyze_new_tables(conn, min_rows=1000) == []  # once
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()
