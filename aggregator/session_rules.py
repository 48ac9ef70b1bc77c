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

import msgspec

DEFAULT_GAP_MS = 1_800_000


class Activity(msgspec.Struct, frozen=True, gc=False):
    """One accepted event as sessions see it; ``chapter_id`` is empty for a course-level one."""

    ts: int
    time_ms: int
    course_id: str
    chapter_id: str = ""


class Session(msgspec.Struct, frozen=True):
    started_ms: int
    ended_ms: int
    events: int
    time_ms: int
    courses: frozenset[str]
    chapters: frozenset[tuple[str, str]]
    """(course_id, chapter_id) pairs touched."""


def window(activity: Iterable[Activity], gap_ms: int) -> tuple[int, int] | None:
    """The span of event time whose sessions may change when ``activity`` is added."""
    times = [a.ts for a in activity]
    if not times:
        return None
    return min(times) - gap_ms, max(times) + gap_ms


def absorb(
    neighbours: Iterable[Session], activity: Iterable[Activity], gap_ms: int
) -> list[Session]:
    """The sessions that replace ``neighbours`` once ``activity`` is added, oldest first.

    Everything is sorted by (start, end); each run whose next start lies within ``gap_ms`` of
    the run's latest end becomes one session, built once from its parts.
    """
    parts: list[tuple[int, int, Session | Activity]] = sorted(
        [*((s.started_ms, s.ended_ms, s) for s in neighbours),
         *((a.ts, a.ts, a) for a in activity)],
        key=_span,
    )
    out: list[Session] = []
    run: list[Session | Activity] = []
    end = 0
    for start, stop, part in parts:
        if run and start - end <= gap_ms:
            run.append(part)
            end = max(end, stop)
        else:
            if run:
                out.append(_of_run(run))
            run, end = [part], stop
    if run:
        out.append(_of_run(run))
    return out


def _span(p: tuple[int, int, Session | Activity]) -> tuple[int, int]:
    return p[0], p[1]


def _of_run(run: list[Session | Activity]) -> Session:
    """One session of parts known to join: the span, counts and touched sets of them all."""
    if len(run) == 1 and isinstance(run[0], Session):
        return run[0]
    started, ended, events, time_ms = None, None, 0, 0
    courses: set[str] = set()
    chapters: set[tuple[str, str]] = set()
    for p in run:
        if isinstance(p, Session):
            lo, hi, n = p.started_ms, p.ended_ms, p.events
            courses |= p.courses
            chapters |= p.chapters
        else:
            lo = hi = p.ts
            n = 1
            courses.add(p.course_id)
            if p.chapter_id:
                chapters.add((p.course_id, p.chapter_id))
        started = lo if started is None else min(started, lo)
        ended = hi if ended is None else max(ended, hi)
        events += n
        time_ms += p.time_ms
    assert started is not None and ended is not None
    return Session(started, ended, events, time_ms, frozenset(courses), frozenset(chapters))


def changes(
    neighbours: list[Session], merged: list[Session]
) -> tuple[list[Session], list[Session]]:
    """(sessions to delete, sessions to write): what differs between before and after."""
    before, after = set(neighbours), set(merged)
    return sorted(before - after, key=_start), sorted(after - before, key=_start)


def _start(s: Session) -> int:
    return s.started_ms
