"""The ledger of applied batches: a batch, its parts and its ancestors apply at most once."""

from __future__ import annotations

import asyncpg

from aggregator import ledger


async def claim(dsn: str, part: str) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            return await ledger.claim(conn, part, 1)
    finally:
        await conn.close()


async def test_a_batch_id_is_claimed_once(database_url: str) -> None:
    assert await claim(database_url, "3-abc")
    assert not await claim(database_url, "3-abc")


async def test_a_split_batch_never_applies_whole_and_its_parts_once(database_url: str) -> None:
    assert await claim(database_url, "3-abc.0")
    assert not await claim(database_url, "3-abc")  # would apply part .0 a second time
    assert not await claim(database_url, "3-abc.0.1")  # inside an applied part
    assert await claim(database_url, "3-abc.1.0")
    assert await claim(database_url, "3-abc.1.1")
    assert not await claim(database_url, "3-abc.1")
    assert await claim(database_url, "3-abcd")  # a different batch sharing a prefix


async def test_old_ledger_rows_are_pruned(database_url: str) -> None:
    await claim(database_url, "1-old")
    await claim(database_url, "1-new")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE applied_batches SET applied_at = now() - interval '8 days'"
                           " WHERE batch_id = '1-old'")
        assert await ledger.prune(conn) == 1
        left = [r["batch_id"] for r in await conn.fetch("SELECT batch_id FROM applied_batches")]
    finally:
        await conn.close()
    assert left == ["1-new"]


def test_lineage_lists_ancestors_and_self() -> None:
    assert ledger.lineage("a.0.1") == ["a", "a.0", "a.0.1"]


async def test_descendants_are_found_by_prefix_without_wildcards(database_url: str) -> None:
    """A part id holding LIKE's wildcards matches only itself: the prefix is a byte range."""
    assert await claim(database_url, "9-a_c.0")
    assert await claim(database_url, "9-abc")  # "_" is not "any character"
    assert not await claim(database_url, "9-a_c")  # its part .0 was applied
    assert await claim(database_url, "9-a%")
    assert await claim(database_url, "9-a/")  # "/" follows "." but is not a child
