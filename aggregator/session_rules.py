"""Learning sessions as a pure rule: a learner's activity split where the gap exceeds a bound.

A session is a maximal run of a learner's events (all courses) in which two consecutive event
times are at most ``gap_ms`` apart (a gap equal to it stays in one session). Adding events can
only join sessions, never split one, so the apply step keeps sessions incrementally: it reads
the learner's sessions that lie within ``gap_ms`` of the new events (its *neighbours*), and
:func:`absorb` returns what replaces them. Any two sessions that must join are joined through
a new event within ``gap_ms`` of both, so no session further away can change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_GAP_MS = 1_800_000


@dataclass(frozen=True, slots=True)
class Activity:
    """One accepted event as sessions see it; ``chapter_id`` is empty for a course-level one."""

    ts: int
    time_ms: int
    course_id: str
    chapter_id: str = ""


@dataclass(frozen=True, slots=True)
class Session:
    started_ms: int
    ended_ms: int
    events: int
    time_ms: int
    courses: frozenset[str]
    chapters: frozenset[tuple[str, str]]
    """(course_id, chapter_id) pairs touched."""


def of_activity(a: Activity) -> Session:
    chapters = frozenset({(a.course_id, a.chapter_id)}) if a.chapter_id else frozenset()
    return Session(a.ts, a.ts, 1, a.time_ms, frozenset({a.course_id}), chapters)


def join(a: Session, b: Session) -> Session:
    return Session(
        min(a.started_ms, b.started_ms), max(a.ended_ms, b.ended_ms), a.events + b.events,
        a.time_ms + b.time_ms, a.courses | b.courses, a.chapters | b.chapters,
    )


def window(activity: Iterable[Activity], gap_ms: int) -> tuple[int, int] | None:
    """The span of event time whose sessions may change when ``activity`` is added."""
    times = [a.ts for a in activity]
    if not times:
        return None
    return min(times) - gap_ms, max(times) + gap_ms


def absorb(
    neighbours: Iterable[Session], activity: Iterable[Activity], gap_ms: int
) -> list[Session]:
    """The sessions that replace ``neighbours`` once ``activity`` is added, oldest first."""
    parts = sorted(
        [*neighbours, *(of_activity(a) for a in activity)],
        key=lambda s: (s.started_ms, s.ended_ms),
    )
    out: list[Session] = []
    for s in parts:
        if out and s.started_ms - out[-1].ended_ms <= gap_ms:
            out[-1] = join(out[-1], s)
        else:
            out.append(s)
    return out


def changes(
    neighbours: list[Session], merged: list[Session]
) -> tuple[list[Session], list[Session]]:
    """(sessions to delete, sessions to write): what differs between before and after."""
    before, after = set(neighbours), set(merged)
    return sorted(before - after, key=_start), sorted(after - before, key=_start)


def _start(s: Session) -> int:
    return s.started_ms
