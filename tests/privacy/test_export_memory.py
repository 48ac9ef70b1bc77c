"""A course export streams: memory does not grow with the number of learners."""

from __future__ import annotations

import tracemalloc

import asyncpg

from aggregator.course_export import csv_chunks
from benchmarks.course_export import seed


async def peak_while_exporting(dsn: str, course_id: str) -> tuple[int, int]:
    """(rows, peak bytes traced) while the whole CSV of ``course_id`` is produced."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            tracemalloc.start()
            try:
                rows = 0
                async for chunk in csv_chunks(conn, course_id):
                    rows += chunk.count(b"\n")
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    finally:
        await conn.close()
    return rows - 1, peak


async def test_exporting_ten_times_the_learners_takes_no_more_memory(database_url: str) -> None:
    await seed(database_url, "small", 400, 4)
    await seed(database_url, "large", 4000, 4)
    small_rows, small_peak = await peak_while_exporting(database_url, "small")
    large_rows, large_peak = await peak_while_exporting(database_url, "large")
    assert (small_rows, large_rows) == (1600, 16000)
    # The whole large CSV is about 1.5 MB; streamed, the peak stays that of a few chunks.
    assert large_peak < 1.5 * small_peak + 256 * 1024, (small_peak, large_peak)
