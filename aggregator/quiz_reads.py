"""Read models of assessments: the quiz summaries of a course read, a learner's attempts,
eligibility, and the instructor's quiz statistics.

Statistics read counters the database keeps exact on every write of an attempt or a summary
(``migrations/013_quiz_stats_counters.sql``): per quiz its counted attempts and percent sum,
its learners and those who passed; per question the judged, correct and timed answers. The
median is the middle of an index on the counted percents. A quiz with 100 000 attempts answers
from a handful of rows, not a scan of its attempts and their responses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from aggregator import quiz_catalog
from aggregator.assessment import QuizSummary, eligibility
from aggregator.db import Conn


class QuizSummaryView(msgspec.Struct, kw_only=True):
    """A learner's quiz after the course's last reset (every attempt is kept, see attempts)."""

    quiz_id: str
    attempts: int
    """Counted attempts (the same as ``attempts_counted``)."""
    attempts_counted: int
    attempts_total: int
    best_score: float | None
    best_percent: float | None
    last_score: float | None
    last_percent: float | None
    average_percent: float | None
    kept_score: float | None
    kept_percent: float | None
    last_attempt_at: datetime | None
    passed: bool
    passed_at: datetime | None
    attempts_left: int | None
    next_attempt_at: datetime | None


_SUMMARIES = """
SELECT quiz_id, attempts, attempts AS attempts_counted, attempts_total, best_score, best_percent,
       last_score, last_percent, average_percent, kept_score, kept_percent, last_attempt_at,
       passed, passed_at, attempts_left, next_attempt_at
FROM quiz_summary WHERE user_id = $1 AND course_id = $2
ORDER BY quiz_id
"""


async def summaries(conn: Conn, user_id: str, course_id: str) -> list[QuizSummaryView]:
    return [QuizSummaryView(**dict(r)) for r in await conn.fetch(_SUMMARIES, user_id, course_id)]


class AttemptView(msgspec.Struct, kw_only=True):
    attempt_id: str
    quiz_id: str
    chapter_id: str | None
    ts: datetime
    status: str
    """``counted`` | ``over_limit`` | ``in_cooldown`` | ``before_reset``"""
    score: float | None
    max_score: float | None
    percent: float | None
    passed: bool | None
    graded: bool
    """The server graded it from the quiz's answer key."""
    client_score: float
    client_max_score: float
    client_passed: bool | None
    duration_s: float | None
    responses: list[Any]


class AttemptList(msgspec.Struct, kw_only=True):
    attempts: list[AttemptView]


_ATTEMPTS = """
SELECT attempt_id, quiz_id, chapter_id, ts, status, score, max_score, percent, passed, graded,
       client_score, client_max_score, client_passed, duration_s, responses::text AS responses
FROM quiz_attempts WHERE user_id = $1 AND course_id = $2 AND quiz_id = $3
ORDER BY ts, attempt_id
"""


async def attempts(conn: Conn, user_id: str, course_id: str, quiz_id: str) -> AttemptList:
    rows = await conn.fetch(_ATTEMPTS, user_id, course_id, quiz_id)
    return AttemptList(attempts=[
        AttemptView(**{**dict(r), "responses": msgspec.json.decode(r["responses"])})
        for r in rows
    ])


class EligibilityView(msgspec.Struct, kw_only=True):
    eligible: bool
    reason: str | None
    """``attempts_exhausted`` | ``cooldown`` | null"""
    attempts_left: int | None
    next_attempt_at: datetime | None
    as_of: datetime


async def eligibility_of(
    conn: Conn, user_id: str, course_id: str, quiz_id: str, as_of: datetime
) -> EligibilityView:
    """May the learner start an attempt at ``as_of`` (the quiz's definition when none yet)."""
    row = await conn.fetchrow(
        "SELECT attempts_left, next_attempt_at FROM quiz_summary"
        " WHERE user_id = $1 AND course_id = $2 AND quiz_id = $3", user_id, course_id, quiz_id,
    )
    if row is None:
        defs = (await quiz_catalog.load(conn, [course_id])).get(course_id)
        left = None if defs is None else defs.rule(quiz_id).max_attempts
        summary, next_at = QuizSummary(attempts_left=left), None
    else:
        next_at = row["next_attempt_at"]
        summary = QuizSummary(attempts_left=row["attempts_left"],
                              next_attempt_at=None if next_at is None else _ms(next_at))
    ok, reason = eligibility(summary, _ms(as_of))
    return EligibilityView(eligible=ok, reason=reason, attempts_left=summary.attempts_left,
                           next_attempt_at=next_at if reason == "cooldown" else None, as_of=as_of)


def _ms(at: datetime) -> int:
    return round(at.timestamp() * 1000)


class QuestionStats(msgspec.Struct, kw_only=True):
    question_id: str
    responses: int
    """Counted attempts that say whether it was right (a keyed question: every graded one)."""
    percent_correct: float | None
    mean_time_s: float | None


class QuizStats(msgspec.Struct, kw_only=True):
    course_id: str
    quiz_id: str
    attempts: int
    learners: int
    pass_rate: float | None
    mean_percent: float | None
    median_percent: float | None
    questions: list[QuestionStats]
    as_of: datetime


_HEAD = """
SELECT s.attempts, s.percent_sum, coalesce(l.learners, 0) AS learners,
       coalesce(l.passed_learners, 0) AS passed_learners
FROM quiz_stats s LEFT JOIN quiz_learner_stats l USING (course_id, quiz_id)
WHERE s.course_id = $1 AND s.quiz_id = $2
"""
_MIDDLE = """
SELECT percent FROM quiz_attempts
WHERE course_id = $1 AND quiz_id = $2 AND status = 'counted'
ORDER BY percent OFFSET $3 LIMIT 2
"""
_ITEMS = """
SELECT question_id, judged, correct, timed, time_sum FROM quiz_item_stats
WHERE course_id = $1 AND quiz_id = $2
"""


async def quiz_stats(conn: Conn, course_id: str, quiz_id: str) -> QuizStats | None:
    """The instructor's figures over counted attempts; ``None``: no definition, no attempt."""
    defs = (await quiz_catalog.load(conn, [course_id])).get(course_id)
    defined = None if defs is None else next(
        (q for q in defs.quizzes if q.quiz_id == quiz_id), None)
    head = await conn.fetchrow(_HEAD, course_id, quiz_id)
    n = 0 if head is None else head["attempts"]
    if defined is None and not n:
        return None
    median = None
    if n:
        middle = [r["percent"] for r in await conn.fetch(_MIDDLE, course_id, quiz_id, (n - 1) // 2)]
        median = middle[0] if n % 2 else (middle[0] + middle[1]) / 2
    rows = {r["question_id"]: r for r in await conn.fetch(_ITEMS, course_id, quiz_id)}
    listed = [q.question_id for q in defined.questions] if defined else []
    order = listed + sorted(q for q, r in rows.items() if q not in listed and r["judged"]
                            + r["timed"])
    questions = []
    for qid in order:
        r = rows.get(qid)
        judged, timed = (r["judged"], r["timed"]) if r else (0, 0)
        questions.append(QuestionStats(
            question_id=qid, responses=judged,
            percent_correct=round(100 * r["correct"] / judged, 2) if r and judged else None,
            mean_time_s=round(float(r["time_sum"]) / timed, 3) if r and timed else None,
        ))
    learners = 0 if head is None else head["learners"]
    return QuizStats(
        course_id=course_id, quiz_id=quiz_id, attempts=n, learners=learners,
        pass_rate=round(head["passed_learners"] / learners, 4) if head and learners else None,
        mean_percent=round(float(head["percent_sum"]) / n, 2) if head and n else None,
        median_percent=_round(median), questions=questions, as_of=datetime.now(UTC),
    )


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 2)
