"""Apply a new catalog version to every learner of a course, in throttled keyset batches.

Each batch is one transaction: quiz statuses of up to ``batch`` learners (and the chapters
their quiz facts complete), their course rollups and user summaries, and the domain events of
the rows that moved. Progress is kept in ``catalog_recompute`` (shown by
``GET /v1/courses/{id}``); a newer version marks the running one superseded, which stops it.
"""

from __future__ import annotations

import asyncio

import asyncpg

from aggregator import path_progress, quizzes, rewards, summary
from aggregator.catalog import learner_pairs
from aggregator.chapters import apply_chapters, chapters_of
from aggregator.db import Conn
from aggregator.events import DomainEvent, append
from aggregator.requirements import chapters_scored
from aggregator.rollup import recompute_courses
from aggregator.signing import CertificateSigner
from aggregator.unlocks import course_unlock_events, unlock_events

_START = """
UPDATE catalog_recompute SET state = 'running', started_at = now(), learners_done = 0,
    learners_total = (SELECT count(*) FROM course_progress WHERE course_id = $1), updated_at = now()
WHERE course_id = $1 AND version = $2 RETURNING learners_total
"""
_PROGRESS = """
UPDATE catalog_recompute SET learners_done = learners_done + $3,
    learners_total = greatest(learners_total, learners_done + $3), updated_at = now()
WHERE course_id = $1 AND version = $2 RETURNING state
"""
_LOCK = """
SELECT 1 FROM course_progress WHERE course_id = $1 AND user_id = ANY($2::text[])
ORDER BY user_id FOR UPDATE
"""
_FINISH = """
UPDATE catalog_recompute SET state = 'done', finished_at = now(), updated_at = now()
WHERE course_id = $1 AND version = $2
"""


async def reassess_quizzes(conn: Conn, pairs: list[tuple[str, str]]) -> list[DomainEvent]:
    """Quiz statuses and their chapters' derived facts under the new definitions."""
    keys = await quizzes.quizzes_of(conn, pairs)
    resets = await quizzes.reset_times(conn, pairs)
    events: list[DomainEvent] = []
    quiz_events, refacted = await quizzes.reassess(conn, keys, resets)
    refacted |= await chapters_of(conn, pairs)  # re-decided under the catalog
    refacted |= await chapters_scored(conn, keys)
    await apply_chapters(conn, {}, {p: (ts, False) for p, ts in resets.items()}, events, refacted)
    events += await unlock_events(conn, events)
    return events + quiz_events


async def recompute_catalog(
    pool: asyncpg.Pool[asyncpg.Record],
    course_id: str,
    version: int,
    *,
    batch: int = 500,
    pause_s: float = 0.01,
    signer: CertificateSigner | None = None,
) -> int:
    """Recompute every learner of ``course_id`` for ``version``; return how many were done.

    Stops early (returning what it did) when a newer version has been stored meanwhile: that
    version's own job recomputes everyone again.
    """
    async with pool.acquire() as conn:
        total = await conn.fetchval(_START, course_id, version)
    if total is None:
        return 0
    after, done = "", 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            current = await conn.fetchval(
                "SELECT version FROM courses WHERE course_id = $1", course_id
            )
            if current != version:
                await conn.execute(
                    "UPDATE catalog_recompute SET state = 'superseded' WHERE course_id = $1"
                    " AND version = $2", course_id, version,
                )
                return done
            users = await learner_pairs(conn, course_id, after, batch)
            if not users:
                await conn.execute(_FINISH, course_id, version)
                return done
            # Lock first (in the apply's key order): the rollup statement after it then reads
            # chapter rows no concurrent batch is still changing.
            await conn.execute(_LOCK, course_id, users)
            events = await reassess_quizzes(conn, [(u, course_id) for u in users])
            rolled = await recompute_courses(conn, [(u, course_id) for u in users])
            events += rolled + await path_progress.after_rollup(conn, rolled)
            events += await course_unlock_events(conn, rolled)
            await summary.refresh_users(conn, users)
            events += await rewards.after_recompute(conn, [(u, course_id) for u in users], signer)
            await append(conn, events)
            await conn.execute(_PROGRESS, course_id, version, len(users))
        done += len(users)
        after = users[-1]
        if pause_s:
            await asyncio.sleep(pause_s)
