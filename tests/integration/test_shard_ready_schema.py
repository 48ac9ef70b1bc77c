"""The schema distributes by learner: read from PostgreSQL's catalogs after every migration.

A table with a ``user_id`` column is a learner table: its primary key and every unique
constraint or unique index lead with ``user_id``, so a Citus-style cluster can distribute it by
``user_id`` and keep each learner's rows (and each apply transaction) on one node. A table
without ``user_id`` is keyed by course (its primary key leads with ``course_id``: the catalog
and per-course counters) or is named below as the pipeline's own bookkeeping; a new table that
is neither fails here until it is placed (docs/scaling.md says where each group goes).
"""

from __future__ import annotations

import asyncpg

BOOKKEEPING_TABLES = frozenset({"applied_batches", "schema_migrations"})
"""The batch ledger (keyed by batch id) and the migration log."""
CATALOG_TABLES = frozenset({"paths", "path_courses", "achievement_definitions"})
"""Learning path and achievement definitions: catalog data keyed by their own id, a reference
table on a cluster."""

KEYS = """
SELECT c.relname AS table_name, i.indisprimary AS is_primary, ic.relname AS index_name,
       (SELECT array_agg(a.attname ORDER BY k.ord)
          FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum) AS columns
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND (i.indisprimary OR i.indisunique)
"""
TABLES = """
SELECT c.relname AS table_name,
       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'user_id'
               AND NOT a.attisdropped) AS has_user
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
"""


async def schema_problems(dsn: str) -> list[str]:
    """Why the schema at ``dsn`` would not distribute by ``user_id`` (empty: it would)."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = {r["table_name"]: r["has_user"] for r in await conn.fetch(TABLES)}
        keys = await conn.fetch(KEYS)
    finally:
        await conn.close()
    problems = []
    by_course = {k["table_name"] for k in keys
                 if k["is_primary"] and k["columns"][0] == "course_id"}
    for table, has_user in sorted(tables.items()):
        if not has_user and table not in by_course | BOOKKEEPING_TABLES | CATALOG_TABLES:
            problems.append(f"{table}: neither user_id nor a primary key led by course_id")
    for k in keys:
        if tables.get(k["table_name"]) and k["columns"][0] != "user_id":
            kind = "primary key" if k["is_primary"] else f"unique index {k['index_name']}"
            problems.append(f"{k['table_name']}: {kind} ({', '.join(k['columns'])}) "
                            "does not lead with user_id")
    return sorted(problems)


async def test_every_learner_table_is_keyed_by_user_id_first(database_url: str) -> None:
    assert await schema_problems(database_url) == []


async def test_a_learner_table_keyed_by_another_column_is_caught(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE TABLE shard_probe (attempt_id text PRIMARY KEY, user_id text,"
                           " token text, UNIQUE (token, user_id))")
        await conn.execute("CREATE TABLE shard_orphan (id bigint PRIMARY KEY, course_id text)")
        problems = await schema_problems(database_url)
    finally:
        await conn.execute("DROP TABLE shard_probe, shard_orphan")
        await conn.close()
    assert problems == [
        "shard_orphan: neither user_id nor a primary key led by course_id",
        "shard_probe: primary key (attempt_id) does not lead with user_id",
        "shard_probe: unique index shard_probe_token_user_id_key (token, user_id) "
        "does not lead with user_id",
    ]
