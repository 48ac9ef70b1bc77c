"""A course's export for instructors: CSV, one row per learner and chapter, streamed.

Every learner with a course row, in ``user_id`` order; for each, every catalog chapter in catalog
order (0 % and empty dates where the learner has not started it, as the read API shows it), then
any chapter with activity that the catalog does not list (``in_catalog`` false). The course's own
figures for the learner repeat on each of their rows, so the file filters and pivots on its own.

Rows come through a server-side cursor in one read-only snapshot and are written ``ROWS_PER_CHUNK``
at a time: memory stays flat whatever the number of learners. A text cell that a spreadsheet
would read as a formula (starting with ``=``, ``+``, ``-`` or ``@``) is prefixed with ``'``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from aggregator.db import Conn

COLUMNS = (
    "user_id", "module_id", "chapter_id", "in_catalog", "required", "progress", "completed",
    "completed_at", "position_s", "time_spent_s", "first_activity_at", "last_activity_at",
    "course_percent_complete", "course_status", "enrollment_status",
)
ROWS_PER_CHUNK = 1000
PREFETCH = 2000

_ROWS = """
SELECT cp.user_id, x.*, cp.percent_complete, cp.status, cp.enrollment_status
FROM course_progress cp
CROSS JOIN LATERAL (
    (SELECT ch.module_id, ch.chapter_id, true AS in_catalog, ch.required, p.progress,
            p.completed, p.completed_at, p.position_s, p.time_spent_ms, p.first_activity_at,
            p.last_activity_at
     FROM course_chapters ch
     LEFT JOIN chapter_progress p
       ON p.user_id = cp.user_id AND p.course_id = ch.course_id AND p.chapter_id = ch.chapter_id
     WHERE ch.course_id = $1 ORDER BY ch.position)
    UNION ALL
    (SELECT NULL, p.chapter_id, false, NULL, p.progress, p.completed, p.completed_at,
            p.position_s, p.time_spent_ms, p.first_activity_at, p.last_activity_at
     FROM chapter_progress p
     WHERE p.user_id = cp.user_id AND p.course_id = $1
       AND NOT EXISTS (SELECT 1 FROM course_chapters c
                       WHERE c.course_id = $1 AND c.chapter_id = p.chapter_id)
     ORDER BY p.chapter_id)
) x
WHERE cp.course_id = $1 AND cp.visible
ORDER BY cp.user_id
"""
_FORMULA = ("=", "+", "-", "@")


def _text(value: str | None) -> str:
    if value is None:
        return ""
    return "'" + value if value.startswith(_FORMULA) else value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def csv_row(r: Sequence[Any]) -> list[str]:
    """The CSV cells of one result row (columns as ``_ROWS`` selects them)."""
    (user_id, module_id, chapter_id, in_catalog, required, progress, completed, completed_at,
     position_s, time_ms, first_at, last_at, pct, status, enrollment) = r
    seen = progress is not None
    return [
        _text(user_id), _text(module_id), _text(chapter_id), _cell(in_catalog), _cell(required),
        _cell(float(progress) if seen else 0.0), _cell(bool(completed)), _cell(completed_at),
        _cell(position_s), _cell(time_ms / 1000 if seen else 0.0), _cell(first_at),
        _cell(last_at), _cell(None if pct is None else float(pct)), _text(status),
        _text(enrollment),
    ]


async def has_course(conn: Conn, course_id: str) -> bool:
    """A catalog or at least one learner: what the export needs to answer 200."""
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM courses WHERE course_id = $1)"
        " OR EXISTS (SELECT 1 FROM course_progress WHERE course_id = $1 AND visible)",
        course_id,
    ))


async def csv_chunks(conn: Conn, course_id: str) -> AsyncIterator[bytes]:
    """The CSV of ``course_id``, ``ROWS_PER_CHUNK`` rows at a time (run inside a transaction)."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow(COLUMNS)
    n = 0
    async for r in conn.cursor(_ROWS, course_id, prefetch=PREFETCH):
        out.writerow(csv_row(tuple(r)))
        n += 1
        if n % ROWS_PER_CHUNK == 0:
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode()
