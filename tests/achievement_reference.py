"""Reference model of achievements, points and course certificates, from the raw events.

Written from the rules as stated, independently of ``aggregator.achievement_rules``: every
distinct event is looked at in ``(ts, id)`` order and each criterion is checked after each one;
the first event at which it holds is its moment. A chapter counts once any completing event
(``chapter_completed``, or ``chapter_progress`` at 100) was seen; a course once every required
chapter had one within one reset epoch (between two resets); time is every event's
``time_spent_s``; a streak is consecutive UTC days with any chapter event or quiz attempt.

A course that counted is never taken back, even when a reset that arrives later splits the
epoch it was completed in: so for courses the model also takes what the worker knew after each
flush (``known``), and a course is held from the earliest moment any of those views gave it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from tests.analytics.reference import day_of, longest_run

Event = dict[str, Any]


@dataclass(frozen=True)
class RefDefinition:
    achievement_id: str
    kind: str
    threshold: int
    points: int = 0
    course_id: str | None = None


def _completing(e: Event) -> bool:
    return e["type"] == "chapter_completed" or (
        e["type"] == "chapter_progress" and e.get("progress", 0) >= 100)


def _courses_completed(seen: list[Event], required: dict[str, list[str]]) -> set[str]:
    """Courses with an epoch in which every required chapter had a completing event."""
    out = set()
    for course, chapters in required.items():
        mine = [e for e in seen if e["course_id"] == course]
        resets = sorted(e["ts"] for e in mine if e["type"] == "course_reset")
        bounds = [-1, *resets, 2**62]
        for lo, hi in pairwise(bounds):
            done = {e["chapter_id"] for e in mine if _completing(e) and lo < e["ts"] <= hi}
            if chapters and set(chapters) <= done:
                out.add(course)
    return out


def _holds(d: RefDefinition, seen: list[Event], required: dict[str, list[str]]) -> bool:
    scoped = [e for e in seen if d.course_id is None or e["course_id"] == d.course_id]
    if d.kind == "chapters_completed":
        return len({(e["course_id"], e["chapter_id"]) for e in scoped if _completing(e)}) \
            >= d.threshold
    if d.kind == "time_spent_s":
        return sum(e.get("time_spent_s", 0) for e in scoped) >= d.threshold
    if d.kind == "streak_days":
        days = {day_of(e["ts"]) for e in seen if e.get("chapter_id") or e["type"] == "quiz_attempt"}
        return longest_run(days) >= d.threshold
    raise ValueError(d.kind)


def _ordered(events: list[Event], user: str) -> list[Event]:
    return sorted({e["id"]: e for e in events if e["user_id"] == user}.values(),
                  key=lambda e: (e["ts"], e["id"]))


def course_moments(
    events: list[Event], user: str, required: dict[str, list[str]],
    known: list[list[Event]] | None = None,
) -> dict[str, tuple[int, str]]:
    """course → the (ts, id) at which ``user`` first completed it over ``events``; with
    ``known`` (what was applied after each flush), the earliest over every one of those views."""
    out: dict[str, tuple[int, str]] = {}
    for view in [events, *(known or [])]:
        mine = _ordered(view, user)
        for i, e in enumerate(mine):
            for course in _courses_completed(mine[:i + 1], required):
                out[course] = min(out.get(course, (e["ts"], e["id"])), (e["ts"], e["id"]))
    return out


def awards(
    events: list[Event], user: str, definitions: list[RefDefinition],
    required: dict[str, list[str]], known: list[list[Event]] | None = None,
) -> dict[str, tuple[int, str]]:
    """achievement id → (ts, event id) of the event at which it first held, for ``user``."""
    mine = _ordered(events, user)
    out: dict[str, tuple[int, str]] = {}
    for i, e in enumerate(mine):
        for d in definitions:
            if (d.achievement_id not in out and d.kind != "courses_completed"
                    and _holds(d, mine[:i + 1], required)):
                out[d.achievement_id] = (e["ts"], e["id"])
    courses = course_moments(events, user, required, known)
    for d in definitions:
        if d.kind == "courses_completed":
            ms = sorted(m for c, m in courses.items() if d.course_id in (None, c))
            if len(ms) >= d.threshold:
                out[d.achievement_id] = ms[d.threshold - 1]
    return out


def balance(
    events: list[Event], user: str, definitions: list[RefDefinition],
    required: dict[str, list[str]], chapter_points: dict[tuple[str, str], int],
    known: list[list[Event]] | None = None,
) -> int:
    """Achievement points plus each rewarded chapter's points once, if ever completed."""
    held = awards(events, user, definitions, required, known)
    done = {(e["course_id"], e["chapter_id"]) for e in events
            if e["user_id"] == user and _completing(e)}
    return (sum(d.points for d in definitions if d.achievement_id in held)
            + sum(p for k, p in chapter_points.items() if k in done))


def completed_courses(
    events: list[Event], user: str, required: dict[str, list[str]],
    known: list[list[Event]] | None = None,
) -> set[str]:
    """Courses ``user`` has ever completed (their certificates are due)."""
    return set(course_moments(events, user, required, known))
