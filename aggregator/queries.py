"""Read models beyond one course: course lists, batch gets, summaries, activity, stats.

Every function is one query (or one per independent table) over indexed keys; the cursor of the
course list is opaque to clients (``base64url`` of the sort key of the last row returned).
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import asyncpg
import msgspec

from aggregator.db import Conn
from aggregator.enrollment_rules import active_sql, dropped_sql
from aggregator.read import rollup_fields
from waymark_client.wire import Id

STATUSES = frozenset({"not_started", "in_progress", "completed"})


class QueryError(ValueError):
    code = "invalid_query"


class CourseListItem(msgspec.Struct, kw_only=True):
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


class CoursePage(msgspec.Struct, kw_only=True):
    """``GET /v1/users/{user_id}/courses``: most recently accessed first."""

    user_id: str
    items: list[CourseListItem]
    next_cursor: str | None


MAX_BATCH_GET = 500
MAX_LIMIT = 200  # page size of the course list


class BatchGetRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    course_ids: Annotated[list[Id], msgspec.Meta(max_length=MAX_BATCH_GET)] = msgspec.field(
        default_factory=list
    )


class BatchGetResult(msgspec.Struct, kw_only=True):
    user_id: str
    items: list[CourseListItem]
    not_found: list[str]


class UserSummaryView(msgspec.Struct, kw_only=True):
    user_id: str
    courses_total: int
    courses_completed: int
    courses_in_progress: int
    chapters_completed: int
    time_spent_s: float
    avg_progress: float
    """Mean ``percent_complete`` over the user's courses that have a catalog."""
    current_streak_days: int
    """Consecutive UTC days with activity ending today or yesterday (0 otherwise)."""
    longest_streak_days: int
    last_activity_at: datetime | None


class DayActivity(msgspec.Struct, kw_only=True):
    day: date
    time_spent_s: float
    events: int


class ActivityView(msgspec.Struct, kw_only=True):
    user_id: str
    from_: date = msgspec.field(name="from")
    to: date
    days: list[DayActivity]
    """Only days with activity, oldest first."""


class ResetAccepted(msgspec.Struct, kw_only=True):
    """``DELETE …/progress``: the reset event taken, applied like any ``course_reset``."""

    event_id: str
    reset_at: datetime


class ChapterStats(msgspec.Struct, kw_only=True):
    chapter_id: str
    module_id: str
    required: bool
    reached: int
    """Learners with any activity on the chapter."""
    completed: int
    reach_rate: float
    completion_rate: float


class CourseStats(msgspec.Struct, kw_only=True):
    """Every figure is over the course's active learners (not dropped); ``dropped`` counts the
    others."""

    course_id: str
    catalog_version: int | None
    learners: int
    completed: int
    in_progress: int
    completion_rate: float
    avg_progress: float
    chapters: list[ChapterStats]
    dropped: int = 0
    """Learners whose latest enrollment status is ``dropped``: left out of every other figure."""


_LIST = """
SELECT course_id, percent_complete, status, completed_chapters, total_chapters,
    avg_progress, time_spent_ms, started_at, last_activity_at, last_accessed_at, completed_at,
    enrollment_status, last_viewed_chapter
FROM course_progress
WHERE user_id = $1 AND ($2::text IS NULL OR status = $2) AND visible
  AND ($7 OR enrollment_status IS DISTINCT FROM 'dropped')
  AND ($3::timestamptz IS NULL
       OR coalesce(last_accessed_at, $5) < $3
       OR (coalesce(last_accessed_at, $5) = $3 AND course_id > $4))
ORDER BY coalesce(last_accessed_at, $5) DESC, course_id LIMIT $6
"""
_BATCH_GET = """
SELECT course_id, percent_complete, status, completed_chapters, total_chapters,
    avg_progress, time_spent_ms, started_at, last_activity_at, last_accessed_at, completed_at,
    enrollment_status, last_viewed_chapter
FROM course_progress WHERE user_id = $1 AND course_id = ANY($2::text[]) AND visible
"""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _item(r: asyncpg.Record) -> CourseListItem:
    return CourseListItem(**rollup_fields(r))


def encode_cursor(item: CourseListItem) -> str:
    at = item.last_accessed_at or _EPOCH
    raw = msgspec.json.encode([at.isoformat(), item.course_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, course_id = msgspec.json.decode(raw, type=tuple[datetime, str])
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise QueryError("cursor is not one this API returned") from None
    return at, course_id


async def list_courses(
    conn: Conn, user_id: str, *, status: str | None, limit: int, cursor: str | None,
    include_dropped: bool = False,
) -> CoursePage:
    """Visible course records, dropped ones only with ``include_dropped``."""
    if status is not None and status not in STATUSES:
        raise QueryError(f"status must be one of {sorted(STATUSES)}")
    after = decode_cursor(cursor) if cursor else None
    rows = await conn.fetch(
        _LIST,
        user_id, status, after[0] if after else None, after[1] if after else None,
        _EPOCH, limit + 1, include_dropped,
    )
    items = [_item(r) for r in rows[:limit]]
    more = len(rows) > limit
    return CoursePage(
        user_id=user_id, items=items, next_cursor=encode_cursor(items[-1]) if more else None
    )


async def batch_get(conn: Conn, user_id: str, course_ids: list[str]) -> BatchGetResult:
    """Course rows of ``course_ids`` in one query, in the order asked."""
    rows = await conn.fetch(
        _BATCH_GET,
        user_id, course_ids,
    )
    by_id = {r["course_id"]: _item(r) for r in rows}
    wanted = list(dict.fromkeys(course_ids))
    return BatchGetResult(
        user_id=user_id,
        items=[by_id[c] for c in wanted if c in by_id],
        not_found=[c for c in wanted if c not in by_id],
    )


async def user_summary(conn: Conn, user_id: str, today: date) -> UserSummaryView | None:
    r = await conn.fetchrow(
        "SELECT * FROM user_summary WHERE user_id = $1 AND EXISTS"
        " (SELECT 1 FROM course_progress WHERE user_id = $1 AND visible)", user_id,
    )
    return None if r is None else summary_view(r, today)


def summary_view(r: asyncpg.Record, today: date) -> UserSummaryView:
    """A ``user_summary`` row as the read API shows it on ``today`` (the current streak)."""
    user_id = r["user_id"]
    end = r["streak_end"]
    current = r["streak_days"] if end is not None and end >= today - timedelta(days=1) else 0
    return UserSummaryView(
        user_id=user_id, courses_total=r["courses_total"],
        courses_completed=r["courses_completed"], courses_in_progress=r["courses_in_progress"],
        chapters_completed=r["chapters_completed"], time_spent_s=r["time_spent_ms"] / 1000,
        avg_progress=r["avg_progress"], current_streak_days=current,
        longest_streak_days=r["longest_streak_days"], last_activity_at=r["last_activity_at"],
    )


async def activity(conn: Conn, user_id: str, start: date, end: date) -> ActivityView:
    rows = await conn.fetch(
        "SELECT day, time_spent_ms, events FROM daily_activity"
        " WHERE user_id = $1 AND day BETWEEN $2 AND $3 ORDER BY day",
        user_id, start, end,
    )
    days = [DayActivity(day=r["day"], time_spent_s=r["time_spent_ms"] / 1000, events=r["events"])
            for r in rows]
    return ActivityView(user_id=user_id, from_=start, to=end, days=days)


_STATS = """
SELECT count(*) FILTER (WHERE {active}) AS learners,
       count(*) FILTER (WHERE {active} AND status = 'completed') AS completed,
       count(*) FILTER (WHERE {active} AND status = 'in_progress') AS in_progress,
       coalesce(avg(percent_complete) FILTER (WHERE {active}), 0)::float8 AS avg_progress,
       count(*) FILTER (WHERE {dropped}) AS dropped
FROM course_progress WHERE course_id = $1
""".replace("{active}", active_sql()).replace("{dropped}", dropped_sql())
_CHAPTER_STATS = """
WITH per AS (  -- through the course's learners: the course's rows only, by primary key
    SELECT cp.chapter_id, count(*) FILTER (WHERE cp.first_activity_at IS NOT NULL) AS reached,
           count(*) FILTER (WHERE cp.completed) AS completed
    FROM course_progress l
    JOIN chapter_progress cp ON cp.user_id = l.user_id AND cp.course_id = l.course_id
    WHERE l.course_id = $1 AND {active} GROUP BY cp.chapter_id
)
SELECT cc.chapter_id, cc.module_id, cc.required, coalesce(per.reached, 0) AS reached,
       coalesce(per.completed, 0) AS completed
FROM course_chapters cc LEFT JOIN per USING (chapter_id)
WHERE cc.course_id = $1 ORDER BY cc.position
""".replace("{active}", active_sql("l."))


def _rate(n: int, of: int) -> float:
    return round(n / of, 4) if of else 0.0


async def course_stats(conn: Conn, course_id: str) -> CourseStats | None:
    version = await conn.fetchval("SELECT version FROM courses WHERE course_id = $1", course_id)
    s = await conn.fetchrow(_STATS, course_id)
    assert s is not None
    if version is None and s["learners"] == 0 and s["dropped"] == 0:
        return None
    n = s["learners"]
    chapters = [
        ChapterStats(chapter_id=r["chapter_id"], module_id=r["module_id"], required=r["required"],
                     reached=r["reached"], completed=r["completed"],
                     reach_rate=_rate(r["reached"], n), completion_rate=_rate(r["completed"], n))
        for r in await conn.fetch(_CHAPTER_STATS, course_id)
    ]
    return CourseStats(
        course_id=course_id, catalog_version=version, learners=n, completed=s["completed"],
        in_progress=s["in_progress"], completion_rate=_rate(s["completed"], n),
        avg_progress=round(s["avg_progress"], 2), chapters=chapters, dropped=s["dropped"],
    )
