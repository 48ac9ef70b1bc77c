"""Reference model of achievements, points and course certificates, from the raw events.

Written from the rules as stated, independently of ``aggregator.achievement_rules``: every
distinct event is looked at in ``(ts, id)`` order and each criterion is checked after each one;
the first event at which it holds is its moment. A chapter counts once any completing event
(``chapter_completed``, or ``chapter_progress`` at 100) was seen; a course once every required
chapter had one within one reset epoch (between two resets); time is every event's
``time_spent_s``; a streak is consecutive UTC days with any chapter event or quiz attempt.
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
    if d.kind == "courses_completed":
        req = {c: ch for c, ch in required.items() if d.course_id in (None, c)}
        return len(_courses_completed(scoped, req)) >= d.threshold
    if d.kind == "time_spent_s":
        return sum(e.get("time_spent_s", 0) for e in scoped) >= d.threshold
    if d.kind == "streak_days":
        days = {day_of(e["ts"]) for e in seen if e.get("chapter_id") or e["type"] == "quiz_attempt"}
        return longest_run(days) >= d.threshold
    raise ValueError(d.kind)


def awards(
    events: list[Event], user: str, definitions: list[RefDefinition],
    required: dict[str, list[str]],
) -> dict[str, tuple[int, str]]:
    """achievement id → (ts, event id) of the event at which it first held, for ``user``."""
    mine = sorted({e["id"]: e for e in events if e["user_id"] == user}.values(),
                  key=lambda e: (e["ts"], e["id"]))
    out: dict[str, tuple[int, str]] = {}
    for i, e in enumerate(mine):
        for d in definitions:
            if d.achievement_id not in out and _holds(d, mine[:i + 1], required):
                out[d.achievement_id] = (e["ts"], e["id"])
    return out


def balance(
    events: list[Event], user: str, definitions: list[RefDefinition],
    required: dict[str, list[str]], chapter_points: dict[tuple[str, str], int],
) -> int:
    """Achievement points plus each rewarded chapter's points once, if ever completed."""
    held = awards(events, user, definitions, required)
    done = {(e["course_id"], e["chapter_id"]) for e in events
            if e["user_id"] == user and _completing(e)}
    return (sum(d.points for d in definitions if d.achievement_id in held)
            + sum(p for k, p in chapter_points.items() if k in done))


def completed_courses(events: list[Event], user: str, required: dict[str, list[str]]) -> set[str]:
    """Courses ``user`` has ever completed (their certificates are due)."""
    mine = list({e["id"]: e for e in events if e["user_id"] == user}.values())
    return _courses_completed(mine, required)
