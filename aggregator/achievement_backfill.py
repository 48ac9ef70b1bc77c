"""Apply a new or changed achievement definition to every learner who already qualifies.

The same shape as a catalog recompute (``aggregator.recompute``): keyset batches of learners
(``user_summary`` ordered by ``user_id``), one transaction each, throttled, progress kept on the
definition (``backfill_state``, ``learners_done``, shown by ``GET /v1/achievements/{id}``); a
newer version of the definition stops the running one (its own job starts over). Each batch
first seeds the milestones of learners whose progress predates them (chapters and courses
completed, quizzes passed, at their stored times; a seeded row never replaces a known one), then
evaluates the definition for those learners — awarding exactly once, as the apply step does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg

from aggregator import achievements
from aggregator.db import Conn
from aggregator.events import append

_SEED = """
INSERT INTO learner_milestones (user_id, kind, course_id, item_id, ts, event_id)
SELECT * FROM (
    SELECT user_id, 'chapter', course_id, chapter_id,
           (extract(epoch FROM completed_at) * 1000)::int8, ''
    FROM chapter_progress WHERE user_id = ANY($1::text[]) AND completed AND completed_at IS NOT NULL
    UNION ALL
    SELECT user_id, 'course', course_id, '', (extract(epoch FROM completed_at) * 1000)::int8, ''
    FROM course_progress WHERE user_id = ANY($1::text[]) AND status = 'completed'
      AND completed_at IS NOT NULL
    UNION ALL
    SELECT user_id, 'quiz_pass', course_id, quiz_id, (extract(epoch FROM passed_at) * 1000)::int8,
           coalesce(passed_attempt_id, '')
    FROM quiz_summary WHERE user_id = ANY($1::text[]) AND passed AND passed_at IS NOT NULL
) s ORDER BY 1, 2, 3, 4
ON CONFLICT DO NOTHING
"""
_USERS = """
SELECT user_id FROM user_summary WHERE user_id > $1 ORDER BY user_id LIMIT $2
"""
_STATE = """
UPDATE achievement_definitions SET backfill_state = $3, learners_done = learners_done + $4,
    updated_at = now()
WHERE achievement_id = $1 AND version = $2 RETURNING version
"""


async def seed_milestones(conn: Conn, users: list[str]) -> None:
    """Give learners whose progress predates milestones the ones their stored rows show (a
    seeded row never replaces a known one)."""
    await conn.execute(_SEED, users)


async def backfill_batch(conn: Conn, achievement_id: str, users: list[str]) -> int:
    """Seed and evaluate one batch of learners (in the caller's transaction); return awards."""
    await seed_milestones(conn, users)
    events = await achievements.evaluate(
        conn, set(users), {u: 0 for u in users}, only=achievement_id)
    await append(conn, events)
    return len(events)


async def backfill(
    pool: asyncpg.Pool[asyncpg.Record], achievement_id: str, version: int, *,
    batch: int = 500, pause_s: float = 0.01, progress: Callable[[int], None] = lambda n: None,
) -> int:
    """Evaluate ``achievement_id`` for every learner; return how many were done.

    Stops early when the definition has moved to a newer version (that version's job redoes it).
    """
    after, done = "", 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            users = [r["user_id"] for r in await conn.fetch(_USERS, after, batch)]
            state = "running" if users else "done"
            if await conn.fetchval(_STATE, achievement_id, version, state, len(users)) is None:
                return done  # superseded or deleted
            if not users:
                return done
            await backfill_batch(conn, achievement_id, users)
        done += len(users)
        progress(len(users))
        after = users[-1]
        if pause_s:
            await asyncio.sleep(pause_s)
