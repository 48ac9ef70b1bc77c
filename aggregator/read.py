"""Read models: course progress with its modules and chapters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec

from aggregator import quiz_reads
from aggregator.availability import ChapterFacts, CourseAvailability
from aggregator.course_rules import completed_courses, course_availability, course_shapes
from aggregator.db import Conn
from aggregator.quiz_reads import QuizSummaryView


class ChapterView(msgspec.Struct, kw_only=True):
    chapter_id: str
    progress: float
    completed: bool
    completed_at: datetime | None
    position_s: float | None
    time_spent_s: float
    first_activity_at: datetime | None
    last_activity_at: datetime | None


class CatalogChapterView(ChapterView, kw_only=True):
    """A catalog chapter in the course read: its progress and its availability."""

    state: str = "available"
    """``completed`` | ``locked`` | ``in_progress`` | ``available``."""
    locked_reason: str | None = None
    """``date`` | ``prerequisite`` | ``sequential`` while locked."""
    unlocks_at: datetime | None = None


class ModuleView(msgspec.Struct, kw_only=True):
    module_id: str
    percent_complete: float | None
    completed_chapters: int
    total_chapters: int
    avg_progress: float
    time_spent_s: float
    chapters: list[CatalogChapterView]
    state: str = "available"
    locked_reason: str | None = None
    unlocks_at: datetime | None = None


class CourseProgressView(msgspec.Struct, kw_only=True):
    user_id: str
    course_id: str
    percent_complete: float | None
    status: str
    completed_chapters: int
    total_chapters: int
    avg_progress: float
    time_spent_s: float
    started_at: datetime | None
    last_activity_at: datetime | None
    last_accessed_at: datetime | None
    completed_at: datetime | None
    enrollment_status: str | None
    last_viewed_chapter_id: str | None
    catalog_version: int | None
    modules: list[ModuleView]
    other_chapters: list[ChapterView]
    """Chapters with activity that the catalog does not (yet) list."""
    quizzes: list[QuizSummaryView]
    next_chapter: str | None = None
    """The first required chapter in catalog order that is available or in progress."""


def rollup_fields(r: asyncpg.Record) -> dict[str, Any]:
    """The course-rollup fields of a ``course_progress`` row, as every view shows them."""
    pct = r["percent_complete"]
    return {
        "course_id": r["course_id"],
        "percent_complete": None if pct is None else float(pct),
        "status": r["status"],
        "completed_chapters": r["completed_chapters"],
        "total_chapters": r["total_chapters"],
        "avg_progress": r["avg_progress"],
        "time_spent_s": r["time_spent_ms"] / 1000,
        "started_at": r["started_at"],
        "last_activity_at": r["last_activity_at"],
        "last_accessed_at": r["last_accessed_at"],
        "completed_at": r["completed_at"],
        "enrollment_status": r["enrollment_status"],
        "last_viewed_chapter_id": r["last_viewed_chapter"],
    }


def chapter_view(chapter_id: str, r: asyncpg.Record | None) -> ChapterView:
    if r is None:
        return ChapterView(
            chapter_id=chapter_id, progress=0.0, completed=False, completed_at=None,
            position_s=None, time_spent_s=0.0, first_activity_at=None, last_activity_at=None,
        )
    return ChapterView(
        chapter_id=chapter_id,
        progress=r["progress"],
        completed=r["completed"],
        completed_at=r["completed_at"],
        position_s=r["position_s"],
        time_spent_s=r["time_spent_ms"] / 1000,
        first_activity_at=r["first_activity_at"],
        last_activity_at=r["last_activity_at"],
    )


def module_rollup(
    module_id: str, chapters: list[tuple[ChapterView, float, bool]]
) -> ModuleView:
    """Module figures with the course rules, over (chapter, weight, required)."""
    req = [(c, w) for c, w, required in chapters if required]
    total_w = sum(w for _, w in req)
    done_w = sum(w for c, w in req if c.completed)
    pct = round(100 * done_w / total_w, 2) if total_w > 0 else 0.0
    views = [c for c, _, _ in chapters]
    avg = round(sum(c.progress for c in views) / len(views), 2) if views else 0.0
    return ModuleView(
        module_id=module_id,
        percent_complete=pct,
        completed_chapters=sum(1 for c, _ in req if c.completed),
        total_chapters=len(req),
        avg_progress=avg,
        time_spent_s=sum(c.time_spent_s for c in views),
        chapters=[CatalogChapterView(**msgspec.structs.asdict(c)) for c in views],
    )


def with_availability(module: ModuleView, a: CourseAvailability) -> ModuleView:
    """``module`` with the availability of itself and of its chapters."""
    m = a.modules[module.module_id]
    chapters = [msgspec.structs.replace(c, state=s.state, locked_reason=s.locked_reason,
                                        unlocks_at=s.unlocks_at)
                for c in module.chapters for s in (a.chapters[c.chapter_id],)]
    return msgspec.structs.replace(module, state=m.state, locked_reason=m.locked_reason,
                                   unlocks_at=m.unlocks_at, chapters=chapters)


async def course_progress(
    conn: Conn, user_id: str, course_id: str, as_of: datetime | None = None
) -> CourseProgressView | None:
    """The course read; availability is as of ``as_of`` (the time of the read when None)."""
    course = await conn.fetchrow(
        "SELECT * FROM course_progress WHERE user_id = $1 AND course_id = $2", user_id, course_id
    )
    if course is None or not course["visible"]:
        return None
    rows = await conn.fetch(
        "SELECT * FROM chapter_progress WHERE user_id = $1 AND course_id = $2"
        " ORDER BY chapter_id",
        user_id,
        course_id,
    )
    by_id = {r["chapter_id"]: r for r in rows}
    catalog = await conn.fetch(
        "SELECT chapter_id, module_id, weight, required FROM course_chapters"
        " WHERE course_id = $1 ORDER BY position",
        course_id,
    )
    version = await conn.fetchval("SELECT version FROM courses WHERE course_id = $1", course_id)
    quizzes = await quiz_reads.summaries(conn, user_id, course_id)
    modules: dict[str, list[tuple[ChapterView, float, bool]]] = {}
    facts: dict[str, ChapterFacts] = {}
    for c in catalog:
        view = chapter_view(c["chapter_id"], by_id.pop(c["chapter_id"], None))
        modules.setdefault(c["module_id"], []).append((view, c["weight"], c["required"]))
        facts[view.chapter_id] = ChapterFacts(view.chapter_id, c["required"], view.completed,
                                              view.first_activity_at is not None)
    shape = (await course_shapes(conn, [course_id])).get(course_id)
    done = set() if shape is None else await completed_courses(conn, user_id, shape.prerequisites)
    avail = None if shape is None else course_availability(
        shape, catalog, facts, as_of or datetime.now(UTC), done)
    views = [module_rollup(mid, chs) for mid, chs in modules.items()]
    return CourseProgressView(
        user_id=user_id,
        **rollup_fields(course),
        catalog_version=version,
        modules=views if avail is None else [with_availability(m, avail) for m in views],
        next_chapter=None if avail is None else avail.next_chapter,
        other_chapters=[chapter_view(cid, r) for cid, r in by_id.items()],
        quizzes=quizzes,
    )
