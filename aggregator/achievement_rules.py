"""What a learner has ever achieved, and the moment an achievement criterion first holds.

Pure functions on typed values. A criterion counts what the learner has *ever* achieved, across
resets and drops: a chapter once it has had any completing fact, a course once it has been
completed, a quiz once it has had a counted pass (``quiz_perfect``: a counted attempt at 100 %),
the longest run of consecutive UTC days with activity, all time ever spent. The moment it first
holds is the ``(ts, id)`` of the event at which it does, in ``(ts, id)`` order over every fact:
so which achievements a learner holds, and when they were earned, do not depend on the order in
which events arrived. Moments only move earlier as facts arrive (a late event with an earlier
``ts`` can make a criterion hold sooner); a criterion that held keeps holding.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from buffer.fold import COMPLETING, NONE_TS, ChapterState

KINDS = (
    "chapters_completed", "courses_completed", "paths_completed", "streak_days",
    "quiz_perfect", "time_spent_s", "quizzes_passed",
)
COUNTED = {
    "chapters_completed": "chapter", "courses_completed": "course", "paths_completed": "path",
    "quizzes_passed": "quiz_pass", "quiz_perfect": "quiz_perfect",
}
"""Criteria that count milestones, and the milestone kind each counts."""
UNSCOPED = ("streak_days", "paths_completed")
"""Criteria a ``course_id`` cannot narrow (days and paths are not a course's)."""


@dataclass(frozen=True, order=True, slots=True)
class Moment:
    """An event's place in time: ``(ts ms, event id)``, compared in that order."""

    ts: int
    id: str = ""


@dataclass(frozen=True, slots=True)
class Criterion:
    kind: str
    threshold: int
    course_id: str | None = None


@dataclass(frozen=True, slots=True)
class Activity:
    """One applied event as the streak and time criteria see it."""

    at: Moment
    course_id: str
    time_ms: int


@dataclass(frozen=True, slots=True)
class History:
    """A learner's milestones (kind → (course, item) → first moment) and activity."""

    milestones: Mapping[str, Mapping[tuple[str, str], Moment]]
    activity: Sequence[Activity] = ()


def earlier(a: Moment | None, b: Moment | None) -> Moment | None:
    """The earlier of two moments (None: never)."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def first_completing(state: ChapterState) -> Moment | None:
    """The earliest completing fact a chapter state still shows (tail exact, base its c_at)."""
    out: Moment | None = None
    for ev in state.tail:
        if ev.kind == COMPLETING:
            out = earlier(out, Moment(ev.ts, ev.id))
    base = state.base
    for ts in (base.c_at, base.c_ts):
        if ts != NONE_TS:
            out = earlier(out, Moment(ts, base.c_id if ts == base.c_ts else ""))
    return out


def utc_day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()


def _nth(moments: Iterable[Moment], n: int) -> Moment | None:
    ordered = sorted(moments)
    return ordered[n - 1] if len(ordered) >= n else None


def _time_moment(activity: Iterable[Activity], threshold_ms: int) -> Moment | None:
    total = 0
    for a in sorted(activity, key=lambda a: a.at):
        total += a.time_ms
        if total >= threshold_ms:
            return a.at
    return None


def _streak_moment(activity: Iterable[Activity], days: int) -> Moment | None:
    seen: set[date] = set()
    for a in sorted(activity, key=lambda a: a.at):
        d = utc_day(a.at.ts)
        if d in seen:
            continue
        seen.add(d)
        # the run through d, both ways: a day that joins two runs completes the longer one now
        run, back, fwd = 1, d - timedelta(days=1), d + timedelta(days=1)
        while back in seen:
            run, back = run + 1, back - timedelta(days=1)
        while fwd in seen:
            run, fwd = run + 1, fwd + timedelta(days=1)
        if run >= days:
            return a.at
    return None


def first_moment(criterion: Criterion, history: History) -> Moment | None:
    """When ``criterion`` first holds over ``history``, or None if it does not (yet)."""
    scope = criterion.course_id
    kind = COUNTED.get(criterion.kind)
    if kind is not None:
        found = history.milestones.get(kind, {})
        return _nth((m for (c, _), m in found.items() if scope is None or c == scope),
                    criterion.threshold)
    activity = [a for a in history.activity if scope is None or a.course_id == scope]
    if criterion.kind == "time_spent_s":
        return _time_moment(activity, criterion.threshold * 1000)
    if criterion.kind == "streak_days":
        return _streak_moment(activity, criterion.threshold)
    raise ValueError(f"unknown criterion kind {criterion.kind!r}")


def longest_streak(days: Iterable[date]) -> int:
    """The longest run of consecutive days."""
    best, run, prev = 0, 0, None
    for d in sorted(set(days)):
        run = run + 1 if prev is not None and d - prev == timedelta(days=1) else 1
        best, prev = max(best, run), d
    return best


def leaderboard_periods(ms: int) -> tuple[str, str, str]:
    """The leaderboard periods a points entry at ``ms`` counts in: all time, its week, month."""
    d = utc_day(ms)
    return "all", f"w{(d - timedelta(days=d.weekday())).isoformat()}", f"m{d:%Y-%m}"


def current_period(period: str, today: date) -> str:
    """The stored key of ``period`` (``week`` | ``month`` | ``all``) on ``today``."""
    if period == "week":
        return f"w{(today - timedelta(days=today.weekday())).isoformat()}"
    if period == "month":
        return f"m{today:%Y-%m}"
    if period == "all":
        return "all"
    raise ValueError(period)
