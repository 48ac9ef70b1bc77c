"""Read models of assessments: the quiz summaries of a course read, a learner's attempts,
eligibility, and the instructor's quiz statistics.

Statistics are one set-based statement over the quiz's counted attempts (a partial index on
``(course_id, quiz_id) WHERE status = 'counted'`` finds them): figures per attempt with
aggregates, per question with ``jsonb_to_recordset`` over the responses, and an answer-key
match as mutual ``jsonb`` containment (set equality, duplicates ignored) — no row is sent to
Python but the answer.
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
    """Counted attempts the percent is over (keyed: every graded attempt)."""
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


_STATS = """
SELECT count(*) AS attempts, count(DISTINCT user_id) AS learners,
       count(DISTINCT user_id) FILTER (WHERE passed) AS passed_learners,
       avg(percent) AS mean_percent,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY percent) AS median_percent,
       count(*) FILTER (WHERE graded) AS graded
FROM quiz_attempts WHERE course_id = $1 AND quiz_id = $2 AND status = 'counted'
"""
_QUESTIONS = """
WITH k AS (SELECT * FROM unnest($3::text[], $4::jsonb[]) AS k(question_id, key)),
r AS (
    SELECT x.question_id, x.answer_ids, x.correct, x.time_s, a.graded
    FROM quiz_attempts a,
         jsonb_to_recordset(a.responses) AS x(question_id text, answer_ids jsonb, correct boolean,
                                              time_s float8)
    WHERE a.course_id = $1 AND a.quiz_id = $2 AND a.status = 'counted'
)
SELECT r.question_id, count(*) AS answered,
       count(*) FILTER (WHERE r.correct IS NOT NULL) AS judged,
       count(*) FILTER (WHERE r.correct) AS client_correct,
       count(*) FILTER (WHERE r.graded AND r.answer_ids @> k.key AND k.key @> r.answer_ids)
           AS key_correct,
       avg(r.time_s) AS mean_time_s
FROM r LEFT JOIN k USING (question_id)
GROUP BY r.question_id
"""


async def quiz_stats(conn: Conn, course_id: str, quiz_id: str) -> QuizStats | None:
    """The instructor's figures over counted attempts; ``None``: no definition, no attempt."""
    defs = (await quiz_catalog.load(conn, [course_id])).get(course_id)
    defined = None if defs is None else next(
        (q for q in defs.quizzes if q.quiz_id == quiz_id), None)
    head = await conn.fetchrow(_STATS, course_id, quiz_id)
    assert head is not None  # an aggregate without GROUP BY always answers one row
    if defined is None and not head["attempts"]:
        return None
    keys = {q.question_id: q.correct_answer_ids for q in (defined.questions if defined else [])}
    keyed = [q for q, key in keys.items() if key is not None]
    rows = {r["question_id"]: r for r in await conn.fetch(
        _QUESTIONS, course_id, quiz_id, keyed,
        [msgspec.json.encode(keys[q]).decode() for q in keyed],
    )}
    order = list(keys) + sorted(q for q in rows if q not in keys)
    questions = []
    for qid in order:
        r = rows.get(qid)
        if keys.get(qid) is not None:
            n, right = head["graded"], (r["key_correct"] if r else 0)
        else:
            n, right = (r["judged"], r["client_correct"]) if r else (0, 0)
        questions.append(QuestionStats(
            question_id=qid, responses=n,
            percent_correct=round(100 * right / n, 2) if n else None,
            mean_time_s=None if r is None or r["mean_time_s"] is None
            else round(r["mean_time_s"], 3),
        ))
    learners = head["learners"]
    return QuizStats(
        course_id=course_id, quiz_id=quiz_id, attempts=head["attempts"], learners=learners,
        pass_rate=round(head["passed_learners"] / learners, 4) if learners else None,
        mean_percent=_round(head["mean_percent"]), median_percent=_round(head["median_percent"]),
        questions=questions, as_of=datetime.now(UTC),
    )


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 2)
