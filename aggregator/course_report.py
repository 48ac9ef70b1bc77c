"""The instructor's view of a course: risk, time to complete, quiz pass rates, drop-off, activity.

Set-based at read time, not precomputed: each figure is one aggregate over the course's rows,
reached by keys led by ``course_id`` (``course_progress_course``; chapter rows through their
learners' primary keys; ``course_activity_days_course``). Every figure is over the course's
active learners (``aggregator.enrollment_rules``); quiz pass rates come from the quiz counters
the apply step keeps (``quiz_learner_stats``), less the share of the course's dropped or
invisible records (found by ``course_progress_inactive``). Precomputing the rest per course
would put rows that every learner's batch updates into the apply step (lock contention between
workers, a cost on every heartbeat) for figures read far less often; a course of 100 000
learners answers in about 0.3 s (``benchmarks/analytics_reads.py``). ``at_risk`` depends on
the time of the read.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import pairwise

import msgspec

from aggregator.db import Conn
from aggregator.enrollment_rules import active_sql
from aggregator.queries import CourseStats, course_stats

HEATMAP_DAYS = 26 * 7


class QuizPassRate(msgspec.Struct, kw_only=True):
    quiz_id: str
    learners: int
    """Learners with a counted attempt since their last reset."""
    passed: int
    pass_rate: float


class ChapterFunnel(msgspec.Struct, kw_only=True):
    chapter_id: str
    reached: int
    completed: int
    drop_off: int
    """Learners who reached this required chapter but not the next (see :func:`funnel`)."""


class CourseStatsView(CourseStats, kw_only=True):
    """Course stats with the instructor's figures."""

    at_risk: int
    """Learners not completed, not dropped, with no activity for the at-risk days."""
    median_days_to_complete: float | None
    """From first activity to completion, over completed learners (days, 2 decimals)."""
    median_time_spent_s: float | None
    """Time spent by completed learners."""
    quizzes: list[QuizPassRate]
    funnel: list[ChapterFunnel]


class DayLearners(msgspec.Struct, kw_only=True):
    day: date
    learners: int


class CourseReport(msgspec.Struct, kw_only=True):
    course_id: str
    title: str | None
    as_of: datetime
    stats: CourseStatsView
    activity: list[DayLearners]
    """Learners active in the course per UTC day over the last 26 weeks (days with any)."""


_RISK = """
SELECT count(*) FILTER (WHERE status <> 'completed'
                          AND (last_accessed_at IS NULL OR last_accessed_at < $2)) AS at_risk,
       percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM completed_at - started_at) / 86400)
           FILTER (WHERE completed_at IS NOT NULL AND started_at IS NOT NULL) AS median_days,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY time_spent_ms)
           FILTER (WHERE completed_at IS NOT NULL) AS median_time_ms
FROM course_progress WHERE course_id = $1 AND {active}
""".replace("{active}", active_sql())
_QUIZZES = """
WITH inactive AS (  -- the counters count every learner: take out those not active
    SELECT qs.quiz_id, count(*) FILTER (WHERE qs.attempts > 0) AS learners,
           count(*) FILTER (WHERE qs.passed) AS passed
    FROM course_progress cp
    JOIN quiz_summary qs ON qs.user_id = cp.user_id AND qs.course_id = cp.course_id
    WHERE cp.course_id = $1 AND (NOT cp.visible OR cp.enrollment_status = 'dropped')
    GROUP BY qs.quiz_id
)
SELECT l.quiz_id, l.learners - coalesce(i.learners, 0) AS learners,
       l.passed_learners - coalesce(i.passed, 0) AS passed
FROM quiz_learner_stats l LEFT JOIN inactive i USING (quiz_id)
WHERE l.course_id = $1 AND l.learners - coalesce(i.learners, 0) > 0 ORDER BY l.quiz_id
"""
_ACTIVITY = """
SELECT day, count(*) AS learners FROM course_activity_days
WHERE course_id = $1 AND day BETWEEN $2 AND $3 GROUP BY day ORDER BY day
"""


def funnel(stats: CourseStats) -> list[ChapterFunnel]:
    """Reach, completion and drop-off per chapter, in catalog order.

    Drop-off of a required chapter: learners who reached it but not the next required one; for
    the last required chapter, those who reached it but did not complete it. Optional chapters
    are shown with their reach and no drop-off.
    """
    required = [c for c in stats.chapters if c.required]
    after = {c.chapter_id: n.reached for c, n in pairwise(required)}
    if required:
        after[required[-1].chapter_id] = required[-1].completed
    return [
        ChapterFunnel(chapter_id=c.chapter_id, reached=c.reached, completed=c.completed,
                      drop_off=max(0, c.reached - after[c.chapter_id]) if c.required else 0)
        for c in stats.chapters
    ]


async def stats_view(
    conn: Conn, course_id: str, as_of: datetime, at_risk_days: int
) -> CourseStatsView | None:
    """Course stats with at-risk learners, medians, quiz pass rates and the funnel."""
    stats = await course_stats(conn, course_id)
    if stats is None:
        return None
    r = await conn.fetchrow(_RISK, course_id, as_of - timedelta(days=at_risk_days))
    assert r is not None
    quizzes = [
        QuizPassRate(quiz_id=q["quiz_id"], learners=q["learners"], passed=q["passed"],
                     pass_rate=round(q["passed"] / q["learners"], 4) if q["learners"] else 0.0)
        for q in await conn.fetch(_QUIZZES, course_id)
    ]
    days, time_ms = r["median_days"], r["median_time_ms"]
    return CourseStatsView(
        **msgspec.structs.asdict(stats), at_risk=r["at_risk"],
        median_days_to_complete=None if days is None else round(days, 2),
        median_time_spent_s=None if time_ms is None else round(time_ms / 1000, 3),
        quizzes=quizzes, funnel=funnel(stats),
    )


async def report(
    conn: Conn, course_id: str, as_of: datetime, at_risk_days: int
) -> CourseReport | None:
    stats = await stats_view(conn, course_id, as_of, at_risk_days)
    if stats is None:
        return None
    title = await conn.fetchval("SELECT title FROM courses WHERE course_id = $1", course_id)
    end = as_of.date()
    rows = await conn.fetch(_ACTIVITY, course_id, end - timedelta(days=HEATMAP_DAYS - 1), end)
    return CourseReport(
        course_id=course_id, title=title, as_of=as_of, stats=stats,
        activity=[DayLearners(day=d["day"], learners=d["learners"]) for d in rows],
    )
