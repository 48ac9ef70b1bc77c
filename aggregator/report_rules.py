"""Learner reports, progress history and the completion forecast as pure rules on typed values.

Periods are UTC: an ISO week (``2026-W48``, Monday to Sunday) or a calendar month
(``2026-11``). A report's figures are counted from what happened inside the period, and each
figure's change is the difference to the same figure of the previous period (the previous ISO
week, the previous month).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import msgspec

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
VELOCITY_DAYS = 14


class PeriodError(ValueError):
    code = "invalid_query"


@dataclass(frozen=True, slots=True)
class Period:
    name: str
    start: date
    end: date
    """Inclusive."""

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __contains__(self, d: object) -> bool:
        return isinstance(d, date) and self.start <= d <= self.end


FIRST_YEAR, LAST_YEAR = 1970, 9998
"""Years a period may name (the period before and after must exist too)."""


def week(text: str) -> Period:
    m = _WEEK.match(text)
    try:
        assert m is not None and FIRST_YEAR <= int(m.group(1)) <= LAST_YEAR
        start = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except (AssertionError, ValueError):
        raise PeriodError(f"week must be an ISO week like 2026-W48 (years {FIRST_YEAR}-"
                          f"{LAST_YEAR}, W53 only in years that have it), got {text!r}") from None
    return Period(text, start, start + timedelta(days=6))


def month(text: str) -> Period:
    m = _MONTH.match(text)
    try:
        assert m is not None and FIRST_YEAR <= int(m.group(1)) <= LAST_YEAR
        start = date(int(m.group(1)), int(m.group(2)), 1)
    except (AssertionError, ValueError):
        raise PeriodError(f"month must be a month like 2026-11 (years {FIRST_YEAR}-{LAST_YEAR}),"
                          f" got {text!r}") from None
    nxt = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return Period(text, start, nxt - timedelta(days=1))


def week_of(d: date) -> Period:
    y, w, _ = d.isocalendar()
    return week(f"{y:04d}-W{w:02d}")


def month_of(d: date) -> Period:
    return month(f"{d.year:04d}-{d.month:02d}")


def previous(p: Period) -> Period:
    before = p.start - timedelta(days=1)
    return week_of(before) if _WEEK.match(p.name) else month_of(before)


class Figures(msgspec.Struct, kw_only=True):
    time_spent_s: float
    active_days: int
    sessions: int
    chapters_completed: int
    quizzes_passed: int
    courses_completed: int
    longest_streak_days: int
    consistency: float
    """Active days ÷ days of the period (4 decimals)."""


@dataclass(frozen=True, slots=True)
class LearnerFacts:
    """What a report is counted from, for a span of days covering the periods asked."""

    activity: dict[date, int]
    """Active UTC day → time spent (ms)."""
    session_days: Sequence[date]
    """The UTC day each session started."""
    chapter_days: Sequence[date]
    """The UTC day of each chapter's current ``completed_at``."""
    quiz_passes: Sequence[tuple[str, date]]
    """(quiz key, day) of each passing attempt: a quiz passed in a period counts once."""
    course_days: Sequence[date]
    """The UTC day of each course's current ``completed_at``."""


def longest_streak(days: Iterable[date]) -> int:
    best = run = 0
    last: date | None = None
    for d in sorted(set(days)):
        run = run + 1 if last is not None and d - last == timedelta(days=1) else 1
        best, last = max(best, run), d
    return best


def figures(facts: LearnerFacts, p: Period) -> Figures:
    active = [d for d in facts.activity if d in p]
    return Figures(
        time_spent_s=sum(facts.activity[d] for d in active) / 1000,
        active_days=len(active),
        sessions=sum(1 for d in facts.session_days if d in p),
        chapters_completed=sum(1 for d in facts.chapter_days if d in p),
        quizzes_passed=len({q for q, d in facts.quiz_passes if d in p}),
        courses_completed=sum(1 for d in facts.course_days if d in p),
        longest_streak_days=longest_streak(active),
        consistency=round(len(active) / p.days, 4),
    )


def change(now: Figures, before: Figures) -> Figures:
    """Each figure minus the previous period's."""
    a, b = msgspec.structs.asdict(now), msgspec.structs.asdict(before)
    return Figures(**{k: round(a[k] - b[k], 4) for k in a})


def history(
    days: Iterable[date], completions: Iterable[tuple[float, datetime]], total_weight: float
) -> list[tuple[date, float]]:
    """End-of-day percent: Σ weight completed by the end of each day ÷ total required weight."""
    done = sorted(completions, key=lambda c: c[1])
    ends = [at for _, at in done]
    cum = [0.0]
    for w, _ in done:
        cum.append(cum[-1] + w)
    out = []
    for d in sorted(days):
        n = bisect_right(ends, day_end(d))
        pct = round(100 * cum[n] / total_weight, 2) if total_weight > 0 else 0.0
        out.append((d, pct))
    return out


def day_end(d: date) -> datetime:
    """The last instant of UTC day ``d`` (microsecond precision, as PostgreSQL stores it)."""
    return datetime.combine(d, time.max, UTC)


@dataclass(frozen=True, slots=True)
class Forecast:
    predicted_completion_at: datetime | None
    velocity: float | None
    """Required weight completed per active day over the velocity window."""
    at_risk: bool


def forecast(
    *,
    completed_at: datetime | None,
    last_activity_day: date | None,
    last_accessed_at: datetime | None,
    active_days: Iterable[date],
    completions: Iterable[tuple[float, datetime]],
    total_weight: float,
    as_of: datetime,
    at_risk_days: int,
) -> Forecast:
    """Completion forecast and risk of one (learner, course); see docs/api.md for the rule."""
    if completed_at is not None:
        return Forecast(completed_at, None, False)
    at_risk = last_accessed_at is None or as_of - last_accessed_at > timedelta(days=at_risk_days)
    if last_activity_day is None:
        return Forecast(None, None, at_risk)
    first = last_activity_day - timedelta(days=VELOCITY_DAYS - 1)
    active = {d for d in active_days if first <= d <= last_activity_day}
    done = list(completions)
    recent = sum(w for w, at in done if first <= at.date() <= last_activity_day)
    if not active or recent <= 0:
        return Forecast(None, None, at_risk)
    velocity = recent / len(active)
    remaining = max(0.0, total_weight - sum(w for w, _ in done))
    # at the learner's pace per active day, and their share of active days in the window
    calendar_days = remaining / velocity * VELOCITY_DAYS / len(active)
    predicted = day_end(last_activity_day) + timedelta(days=calendar_days)
    return Forecast(predicted.replace(microsecond=0), round(velocity, 4), at_risk)
