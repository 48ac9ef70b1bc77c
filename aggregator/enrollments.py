"""A learner's enrollment history in a course: written by the apply step, read by its route.

Every enrollment event is one row keyed by ``(user_id, course_id, event_id)``: a duplicate, a
resent request or a re-delivered batch inserts nothing, and a late event takes its place in
the ``(ts, event id)`` order of the read. The current status is the latest of them (the
``enrollment_status`` the apply step keeps on ``course_progress`` by the same order).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from aggregator.chapters import ms_to_dt
from aggregator.db import Conn
from aggregator.enrollment_rules import Enrollment, current_status, history

EnrollmentRow = tuple[str, str, str, int, str]
"""(user id, course id, event id, ts ms, status)."""

_INSERT = """
INSERT INTO enrollment_history (user_id, course_id, event_id, ts, status)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[])
ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING
"""
_READ = """
SELECT event_id, (extract(epoch FROM ts) * 1000)::int8 AS ts_ms, status
FROM enrollment_history WHERE user_id = $1 AND course_id = $2
"""


class EnrollmentChange(msgspec.Struct, kw_only=True):
    status: str
    ts: datetime


class EnrollmentView(msgspec.Struct, kw_only=True):
    """``GET /v1/users/{user_id}/courses/{course_id}/enrollment``."""

    user_id: str
    course_id: str
    status: str | None
    """The latest status by (ts, event id); null when the course has no enrollment event."""
    history: list[EnrollmentChange]
    """Every enrollment event, oldest first (ties by event id)."""


async def store(conn: Conn, rows: Sequence[EnrollmentRow]) -> None:
    """Keep each enrollment event of a batch once (by event id)."""
    if not rows:
        return
    ordered = sorted(set(rows))
    await conn.execute(
        _INSERT, *[[r[i] for r in ordered] for i in range(3)],
        [ms_to_dt(r[3]) for r in ordered], [r[4] for r in ordered],
    )


async def read(conn: Conn, user_id: str, course_id: str) -> EnrollmentView | None:
    """The enrollment of a visible course record; None when there is none to show."""
    visible = await conn.fetchval(
        "SELECT visible FROM course_progress WHERE user_id = $1 AND course_id = $2",
        user_id, course_id,
    )
    if not visible:
        return None
    events = [Enrollment(r["ts_ms"], r["event_id"], r["status"])
              for r in await conn.fetch(_READ, user_id, course_id)]
    ordered = history(events)
    return EnrollmentView(
        user_id=user_id, course_id=course_id, status=current_status(ordered),
        history=[EnrollmentChange(status=e.status, ts=_dt(e.ts)) for e in ordered],
    )


def _dt(ms: int) -> datetime:
    at = ms_to_dt(ms)
    assert at is not None
    return at
