"""Read models: course progress with its modules and chapters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from aggregator import quiz_reads
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


class ModuleView(msgspec.Struct, kw_only=True):
    module_id: str
    percent_complete: float | None
    completed_chapters: int
    total_chapters: int
    avg_progress: float
    time_spent_s: float
    chapters: list[ChapterView]


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
        chapters=views,
    )


async def course_progress(
    conn: Conn, user_id: str, course_id: str
) -> CourseProgressView | None:
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
    for c in catalog:
        view = chapter_view(c["chapter_id"], by_id.pop(c["chapter_id"], None))
        modules.setdefault(c["module_id"], []).append((view, c["weight"], c["required"]))
    return CourseProgressView(
        user_id=user_id,
        **rollup_fields(course),
        catalog_version=version,
        modules=[module_rollup(mid, chs) for mid, chs in modules.items()],
        other_chapters=[chapter_view(cid, r) for cid, r in by_id.items()],
        quizzes=quizzes,
    )
