"""Every table holding a learner's data is in the registry that export and erasure walk."""

from __future__ import annotations

import asyncpg

from aggregator.learner_data import LEARNER_TABLES


async def test_every_table_with_a_user_id_column_is_in_the_learner_data_registry(
    database_url: str,
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT DISTINCT c.table_name FROM information_schema.columns c"
            " JOIN information_schema.tables t USING (table_schema, table_name)"
            " WHERE c.table_schema = 'public' AND c.column_name = 'user_id'"
            " AND t.table_type = 'BASE TABLE'"
        )
    finally:
        await conn.close()
    with_user_id = {r["table_name"] for r in rows}
    declared = {t.table for t in LEARNER_TABLES}
    assert "chapter_progress" in with_user_id  # the catalog query finds tables at all
    assert with_user_id - declared == set(), "declare these in aggregator/learner_data.py"
    assert declared - with_user_id == set(), "these registry tables do not exist"


def test_each_registry_table_is_exported_and_erased_or_says_why_not() -> None:
    for t in LEARNER_TABLES:
        assert (t.section and t.select and t.shape) or t.note, t.table
        assert t.erase is not None or t.note, t.table
