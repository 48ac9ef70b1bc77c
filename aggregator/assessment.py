"""The assessment rules as pure functions: counting, grading, scoring, eligibility, changes.

Everything here is a function of the set of a learner's stored attempts of one quiz, the quiz's
definition and the course's last reset — never of the order attempts arrived in — so a late
attempt recomputes every status to what the definition says.

Counting: attempts at or before the reset are ``before_reset``; the others, ordered by
``(ts, attempt_id)``, are ``over_limit`` once ``max_attempts`` counted ones precede them (this
wins over cooldown), ``in_cooldown`` when their ``ts`` is less than ``cooldown_ms`` after the
previous counted one, else ``counted``. Only counted attempts score, pass and complete the
quiz's chapter.

Grading: a quiz whose questions carry ``correct_answer_ids`` grades an attempt that has
responses: a question is correct iff the answer set equals the key's (unanswered: wrong);
score = sum of the weights of correct keyed questions, max = sum of keyed weights. Otherwise the
client's score stands, and its ``passed`` when it sent one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

COUNTED = "counted"
OVER_LIMIT = "over_limit"
IN_COOLDOWN = "in_cooldown"
BEFORE_RESET = "before_reset"
SCORINGS = ("best", "last", "average")


@dataclass(frozen=True, slots=True)
class Question:
    question_id: str
    weight: float = 1.0
    correct_answer_ids: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class QuizRule:
    """A quiz's definition as the rules need it (catalog defaults already applied)."""

    passing_score: float = 70.0
    max_attempts: int | None = None
    cooldown_ms: int = 0
    scoring: str = "best"
    chapter_id: str | None = None
    questions: tuple[Question, ...] = ()

    @property
    def keyed(self) -> tuple[Question, ...]:
        return tuple(q for q in self.questions if q.correct_answer_ids is not None)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One stored attempt: the client's figures and responses."""

    attempt_id: str
    event_id: str
    ts: int
    client_score: float
    client_max_score: float
    client_passed: bool | None = None
    chapter_id: str | None = None
    responses: tuple[Mapping[str, Any], ...] = ()


Item = tuple[str, bool | None, float | None]
"""(question_id, correct or None when unknown, time_s or None)"""


@dataclass(frozen=True, slots=True)
class Graded:
    """An attempt's authoritative figures and status."""

    attempt_id: str
    status: str
    score: float
    max_score: float
    percent: float
    passed: bool
    graded: bool
    """Whether the server graded it from the answer key."""
    items: tuple[Item, ...] = ()
    """What it tells about each question (see :func:`item_outcomes`)."""


@dataclass(frozen=True, slots=True)
class Fact:
    """The quiz's one derived completing fact for its chapter."""

    chapter_id: str
    ts: int
    event_id: str


@dataclass(frozen=True, slots=True)
class QuizSummary:
    attempts_counted: int = 0
    attempts_total: int = 0
    best_score: float | None = None
    best_percent: float | None = None
    last_score: float | None = None
    last_percent: float | None = None
    average_percent: float | None = None
    kept_score: float | None = None
    kept_percent: float | None = None
    passed: bool = False
    passed_at: int | None = None
    passed_attempt_id: str | None = None
    attempts_left: int | None = None
    next_attempt_at: int | None = None
    last_attempt_at: int | None = None
    fact: Fact | None = None


@dataclass(frozen=True, slots=True)
class Assessment:
    attempts: dict[str, Graded] = field(default_factory=dict)
    summary: QuizSummary = QuizSummary()


def grade(rule: QuizRule, a: Attempt) -> tuple[float, float, bool | None, bool]:
    """(score, max_score, passed or None to compute, graded) of one attempt."""
    keyed = rule.keyed
    if not keyed or not a.responses:
        return a.client_score, a.client_max_score, a.client_passed, False
    answers = {str(r["question_id"]): frozenset(r.get("answer_ids") or ()) for r in a.responses}
    score = sum(q.weight for q in keyed if answers.get(q.question_id) == q.correct_answer_ids)
    total = sum(q.weight for q in keyed)
    if total <= 0:
        return a.client_score, a.client_max_score, a.client_passed, False
    return score, total, None, True


def item_outcomes(rule: QuizRule, a: Attempt, graded: bool) -> tuple[Item, ...]:
    """Per question: whether it was right and how long it took — the item statistics' input.

    A graded attempt is judged on every keyed question (unanswered: wrong) by the key; any
    other answered question by the client's ``correct``, when it sent one.
    """
    keys = {q.question_id: q.correct_answer_ids for q in rule.keyed} if graded else {}
    out: list[Item] = []
    seen: set[str] = set()
    for r in a.responses:
        qid = str(r["question_id"])
        if qid in seen:
            continue
        seen.add(qid)
        key = keys.get(qid)
        correct = r.get("correct") if key is None else frozenset(r.get("answer_ids") or ()) == key
        time_s = r.get("time_s")
        out.append((qid, correct if isinstance(correct, bool) else None,
                    float(time_s) if isinstance(time_s, int | float) else None))
    out += [(qid, False, None) for qid in keys if qid not in seen]
    return tuple(out)


def statuses(
    attempts: Sequence[Attempt], reset_ts: int, max_attempts: int | None, cooldown_ms: int
) -> dict[str, str]:
    """The status of every attempt (see module docstring)."""
    out: dict[str, str] = {}
    counted: list[int] = []
    for a in sorted(attempts, key=lambda a: (a.ts, a.attempt_id)):
        if a.ts <= reset_ts:
            out[a.attempt_id] = BEFORE_RESET
        elif max_attempts is not None and len(counted) >= max_attempts:
            out[a.attempt_id] = OVER_LIMIT
        elif counted and a.ts < counted[-1] + cooldown_ms:
            out[a.attempt_id] = IN_COOLDOWN
        else:
            out[a.attempt_id] = COUNTED
            counted.append(a.ts)
    return out


def assess(rule: QuizRule, attempts: Sequence[Attempt], reset_ts: int) -> Assessment:
    """Statuses, authoritative figures and the summary of one learner's attempts of one quiz."""
    status = statuses(attempts, reset_ts, rule.max_attempts, rule.cooldown_ms)
    graded: dict[str, Graded] = {}
    for a in attempts:
        score, max_score, passed, by_key = grade(rule, a)
        percent = 100 * score / max_score
        if passed is None:
            passed = percent >= rule.passing_score
        graded[a.attempt_id] = Graded(
            a.attempt_id, status[a.attempt_id], score, max_score, percent, passed, by_key,
            item_outcomes(rule, a, by_key),
        )
    ordered = sorted(attempts, key=lambda a: (a.ts, a.attempt_id))
    counted = [a for a in ordered if status[a.attempt_id] == COUNTED]
    after = [a for a in ordered if status[a.attempt_id] != BEFORE_RESET]
    return Assessment(graded, _summary(rule, counted, graded, len(after)))


def _summary(
    rule: QuizRule, counted: list[Attempt], graded: Mapping[str, Graded], total: int
) -> QuizSummary:
    left = None if rule.max_attempts is None else max(0, rule.max_attempts - len(counted))
    if not counted:
        return QuizSummary(attempts_total=total, attempts_left=left)
    g = [graded[a.attempt_id] for a in counted]
    percents = [x.percent for x in g]
    best = max(g, key=lambda x: x.percent)
    average = sum(percents) / len(percents)
    kept = {
        "best": (best.score, best.percent),
        "last": (g[-1].score, g[-1].percent),
        "average": (sum(x.score for x in g) / len(g), average),
    }[rule.scoring]
    first_pass = next((a for a in counted if graded[a.attempt_id].passed), None)
    fact = None
    if first_pass is not None:
        chapter = rule.chapter_id or first_pass.chapter_id
        if chapter is not None:
            fact = Fact(chapter, first_pass.ts, first_pass.event_id)
    cooling = rule.cooldown_ms > 0 and left != 0
    return QuizSummary(
        attempts_counted=len(counted),
        attempts_total=total,
        best_score=best.score,
        best_percent=best.percent,
        last_score=g[-1].score,
        last_percent=g[-1].percent,
        average_percent=average,
        kept_score=kept[0],
        kept_percent=kept[1],
        passed=first_pass is not None,
        passed_at=None if first_pass is None else first_pass.ts,
        passed_attempt_id=None if first_pass is None else first_pass.attempt_id,
        attempts_left=left,
        next_attempt_at=counted[-1].ts + rule.cooldown_ms if cooling else None,
        last_attempt_at=counted[-1].ts,
        fact=fact,
    )


def eligibility(summary: QuizSummary, as_of_ms: int) -> tuple[bool, str | None]:
    """May the learner start an attempt at ``as_of_ms``; if not, why."""
    if summary.attempts_left == 0:
        return False, "attempts_exhausted"
    if summary.next_attempt_at is not None and as_of_ms < summary.next_attempt_at:
        return False, "cooldown"
    return True, None


@dataclass(frozen=True, slots=True)
class Change:
    """A domain event to emit: its type, when it happened and what changed."""

    type: str
    ts: int
    data: dict[str, Any]


def changes(
    before: Mapping[str, tuple[str, bool]],
    before_summary: QuizSummary | None,
    after: Assessment,
    ts_of: Mapping[str, int],
) -> list[Change]:
    """The domain events of moving from ``before`` (stored statuses) to ``after``.

    ``before`` holds each stored attempt's (status, passed). ``quiz.attempt_status_changed``
    for a stored attempt whose status moved (not into ``before_reset``: ``course.reset`` says
    that); ``quiz.failed`` for each counted failing attempt
    that was not one before; ``quiz.passed`` when the summary's ``passed``
    becomes true; ``quiz.attempts_exhausted`` when no attempt is left any more.
    """
    out: list[Change] = []
    for aid in sorted(after.attempts, key=lambda a: (ts_of[a], a)):
        g, old = after.attempts[aid], before.get(aid)
        if old is not None and old[0] != g.status and g.status != BEFORE_RESET:
            out.append(Change("quiz.attempt_status_changed", ts_of[aid], {
                "attempt_id": aid, "status": g.status, "previous_status": old[0],
            }))
        if g.status == COUNTED and not g.passed and old != (COUNTED, False):
            out.append(Change("quiz.failed", ts_of[aid], {
                "attempt_id": aid, "score": g.score, "max_score": g.max_score,
                "percent": g.percent, "passed": False,
            }))
    s, was = after.summary, before_summary or QuizSummary()
    if s.passed and not was.passed and s.passed_at is not None:
        out.append(Change("quiz.passed", s.passed_at, {
            "attempt_id": s.passed_attempt_id, "kept_percent": s.kept_percent, "passed": True,
        }))
    if s.attempts_left == 0 and was.attempts_left != 0 and s.last_attempt_at is not None:
        out.append(Change("quiz.attempts_exhausted", s.last_attempt_at, {
            "attempts_counted": s.attempts_counted,
        }))
    return out
