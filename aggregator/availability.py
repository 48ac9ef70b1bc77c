"""Availability of a learner's modules and chapters: a pure function of catalog, progress and time.

A module is completed when all its required chapters are (a module without any is completed).
It is locked with reason ``date`` while its ``unlock_at`` is after ``as_of``, else
``prerequisite`` while a course prerequisite or one of its prerequisite modules is not
completed. A chapter inherits its module's lock; in a ``sequential`` module it is also locked
(``sequential``) while an earlier required chapter of the module is not completed. When several
reasons hold the first of ``date``, ``prerequisite``, ``sequential`` is given. ``state`` is
``completed``, else ``locked``, else ``in_progress`` (it has progress), else ``available``;
``unlocks_at`` is set when the reason is ``date``. ``next_chapter`` is the first required chapter
in catalog order that is ``available`` or ``in_progress``.

Facts always count: a locked chapter's progress is kept and counted; only the state says locked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

REASONS = ("date", "prerequisite", "sequential")


@dataclass(frozen=True, slots=True)
class ChapterFacts:
    chapter_id: str
    required: bool
    completed: bool
    started: bool
    """It has activity (progress, time, any event)."""


@dataclass(frozen=True, slots=True)
class ModuleRules:
    module_id: str
    chapters: Sequence[ChapterFacts]
    prerequisites: Sequence[str] = ()
    sequential: bool = False
    unlock_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Availability:
    state: str
    locked_reason: str | None = None
    unlocks_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CourseAvailability:
    modules: Mapping[str, Availability]
    chapters: Mapping[str, Availability]
    next_chapter: str | None


def module_completed(module: ModuleRules) -> bool:
    return all(c.completed for c in module.chapters if c.required)


def availability(
    modules: Sequence[ModuleRules], as_of: datetime, course_prerequisites_met: bool = True
) -> CourseAvailability:
    """Every module's and chapter's availability for one learner (see module docstring)."""
    done = {m.module_id: module_completed(m) for m in modules}
    mods: dict[str, Availability] = {}
    chapters: dict[str, Availability] = {}
    next_chapter = None
    for m in modules:
        reason = None
        if m.unlock_at is not None and m.unlock_at > as_of:
            reason = "date"
        elif not course_prerequisites_met or not all(done.get(p, True) for p in m.prerequisites):
            reason = "prerequisite"
        unlocks = m.unlock_at if reason == "date" else None
        started = any(c.started or c.completed for c in m.chapters)
        mods[m.module_id] = _state(done[m.module_id], reason, started, unlocks)
        blocked = False
        for c in m.chapters:
            own = reason or ("sequential" if m.sequential and blocked else None)
            a = _state(c.completed, own, c.started, unlocks)
            chapters[c.chapter_id] = a
            if c.required and not c.completed:
                blocked = True
                if next_chapter is None and a.state in ("available", "in_progress"):
                    next_chapter = c.chapter_id
    return CourseAvailability(mods, chapters, next_chapter)


def _state(completed: bool, reason: str | None, started: bool, unlocks: datetime | None
           ) -> Availability:
    if completed:
        return Availability("completed")
    if reason is not None:
        return Availability("locked", reason, unlocks if reason == "date" else None)
    return Availability("in_progress" if started else "available")


def newly_available(
    before: CourseAvailability, after: CourseAvailability
) -> list[tuple[str, str]]:
    """``("module" | "chapter", id)`` of what was locked before and is not any more."""
    out = [("module", k) for k, a in after.modules.items()
           if a.state != "locked" and before.modules.get(k, a).state == "locked"]
    out += [("chapter", k) for k, a in after.chapters.items()
            if a.state != "locked" and before.chapters.get(k, a).state == "locked"]
    return out
