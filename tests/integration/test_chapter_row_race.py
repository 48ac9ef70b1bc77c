"""A chapter row the batch creates is written by one insert; when another transaction creates
the same row between the batch's lock and its insert, the batch merges into that row instead.

Every writer today creates chapter rows under its (user, course) row lock, so the two never
meet in production; the fallback keeps the row exact for any writer that does not.
"""

from __future__ import annotations

import asyncio

import asyncpg

from aggregator.chapters import apply_chapters
from aggregator.events import DomainEvent
from buffer.fold import PROGRESS, Base, ChapterState, TailEvent

KEY = ("u-race", "c-race", "ch-1")


def _state(ts: int, event_id: str, progress: float, time_ms: int) -> ChapterState:
    return ChapterState(Base(), [TailEvent(ts, event_id, PROGRESS, progress, time_ms, 10.0)])


async def _wait_for_lock(probe: asyncpg.Connection, pid: int) -> None:
    for _ in range(200):
        if await probe.fetchval(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
        ):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the second insert never waited for the first transaction")


async def test_a_row_created_meanwhile_is_merged_not_overwritten(database_url: str) -> None:
    first, second, probe = [await asyncpg.connect(database_url) for _ in range(3)]
    try:
        first_tx = first.transaction()
        await first_tx.start()
        await apply_chapters(first, {KEY: _state(1_000, "e1", 40.0, 5_000)}, {}, [])

        async def late_writer() -> list[DomainEvent]:
            events: list[DomainEvent] = []
            async with second.transaction():
                await apply_chapters(second, {KEY: _state(2_000, "e2", 30.0, 7_000)}, {}, events)
            return events

        task = asyncio.create_task(late_writer())
        await _wait_for_lock(probe, second.get_server_pid())  # its insert waits for ours
        await first_tx.commit()
        assert await task == []  # nothing completed
        row = await probe.fetchrow(
            "SELECT progress, time_spent_ms, position_s, log_complete, first_activity_at,"
            " last_activity_at FROM chapter_progress"
            " WHERE user_id = $1 AND course_id = $2 AND chapter_id = $3", *KEY)
        logged = await probe.fetchval(
            "SELECT count(*) FROM chapter_event_log WHERE user_id = $1", KEY[0])
    finally:
        for c in (first, second, probe):
            await c.close()
    assert row["time_spent_ms"] == 12_000  # both events, none overwritten
    assert row["progress"] == 40.0  # the furthest progress, not the later write's
    assert row["log_complete"] is True
    assert row["last_activity_at"] > row["first_activity_at"]
    assert logged == 2
