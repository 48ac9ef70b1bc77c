"""Per-learner analytics reads: sessions, progress history, weekly/monthly reports, forecast.

Each read is a handful of indexed queries over one learner's rows (every table here has
``user_id`` leading its key); the rules themselves are in ``aggregator.report_rules``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import msgspec

from aggregator import report_rules as rules
from aggregator.db import Conn
from aggregator.sessions import decode_touched


class TouchedChapter(msgspec.Struct, kw_only=True):
    course_id: str
    chapter_id: str


class SessionView(msgspec.Struct, kw_only=True):
    started_at: datetime
    ended_at: datetime
    duration_s: float
    events: int
    time_spent_s: float
    courses: list[str]
    chapters: list[TouchedChapter]


class SessionsView(msgspec.Struct, kw_only=True):
    user_id: str
    from_: date = msgspec.field(name="from")
    to: date
    sessions: list[SessionView]
    """Sessions that started in the range, oldest first."""


class HistoryDay(msgspec.Struct, kw_only=True):
    day: date
    percent_complete: float | None


class HistoryView(msgspec.Struct, kw_only=True):
    user_id: str
    course_id: str
    from_: date = msgspec.field(name="from")
    to: date
    days: list[HistoryDay]
    """Days with activity in the course, oldest first."""


class ReportPeriod(msgspec.Struct, kw_only=True):
    period: str
    start: date
    end: date


class ReportView(msgspec.Struct, kw_only=True):
    user_id: str
    period: str
    start: date
    end: date
    previous: ReportPeriod
    figures: rules.Figures
    previous_figures: rules.Figures
    change: rules.Figures
    """Each figure minus the previous period's."""


class ForecastView(msgspec.Struct, kw_only=True):
    user_id: str
    course_id: str
    percent_complete: float | None
    status: str
    last_accessed_at: datetime | None
    predicted_completion_at: datetime | None
    velocity: float | None
    at_risk: bool
    as_of: datetime


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _ms(d: date) -> int:
    return int(datetime.combine(d, datetime.min.time(), UTC).timestamp() * 1000)


async def sessions(conn: Conn, user_id: str, start: date, end: date) -> SessionsView:
    rows = await conn.fetch(
        "SELECT started_ms, ended_ms, events, time_spent_ms, touched FROM learner_sessions"
        " WHERE user_id = $1 AND started_ms >= $2 AND started_ms < $3 ORDER BY started_ms",
        user_id, _ms(start), _ms(end + timedelta(days=1)),
    )
    out = []
    for r in rows:
        courses, chapters = decode_touched(r["touched"])
        out.append(SessionView(
            started_at=_dt(r["started_ms"]), ended_at=_dt(r["ended_ms"]),
            duration_s=(r["ended_ms"] - r["started_ms"]) / 1000, events=r["events"],
            time_spent_s=r["time_spent_ms"] / 1000, courses=courses,
            chapters=[TouchedChapter(course_id=c, chapter_id=ch) for c, ch in chapters],
        ))
    return SessionsView(user_id=user_id, from_=start, to=end, sessions=out)


_REQUIRED = """
SELECT cc.weight, cp.completed_at
FROM course_chapters cc
LEFT JOIN chapter_progress cp ON cp.user_id = $1 AND cp.course_id = cc.course_id
     AND cp.chapter_id = cc.chapter_id AND cp.completed
WHERE cc.course_id = $2 AND cc.required
"""


async def _required(conn: Conn, user_id: str, course_id: str) -> tuple[
    bool, float, list[tuple[float, datetime]]
]:
    """(has a catalog, total required weight, (weight, completed_at) of completed ones)."""
    has = await conn.fetchval("SELECT true FROM courses WHERE course_id = $1", course_id)
    rows = await conn.fetch(_REQUIRED, user_id, course_id)
    total = sum(r["weight"] for r in rows)
    return bool(has), total, [(r["weight"], r["completed_at"]) for r in rows if r["completed_at"]]


async def _days(conn: Conn, user_id: str, course_id: str, start: date, end: date) -> list[date]:
    rows = await conn.fetch(
        "SELECT day FROM course_activity_days WHERE user_id = $1 AND course_id = $2"
        " AND day BETWEEN $3 AND $4 ORDER BY day", user_id, course_id, start, end,
    )
    return [r["day"] for r in rows]


async def history(
    conn: Conn, user_id: str, course_id: str, start: date, end: date
) -> HistoryView | None:
    if not await conn.fetchval(
        "SELECT visible FROM course_progress WHERE user_id = $1 AND course_id = $2",
        user_id, course_id,
    ):
        return None
    has_catalog, total, done = await _required(conn, user_id, course_id)
    days = await _days(conn, user_id, course_id, start, end)
    points = rules.history(days, done, total)
    return HistoryView(user_id=user_id, course_id=course_id, from_=start, to=end, days=[
        HistoryDay(day=d, percent_complete=pct if has_catalog else None) for d, pct in points
    ])


_FACTS = """
SELECT 'a' AS k, day, time_spent_ms AS n, NULL::text AS quiz FROM daily_activity
 WHERE user_id = $1 AND day BETWEEN $2 AND $3
UNION ALL
SELECT 's', (to_timestamp(started_ms / 1000.0) AT TIME ZONE 'UTC')::date, 0, NULL
  FROM learner_sessions WHERE user_id = $1 AND started_ms >= $4 AND started_ms < $5
UNION ALL
SELECT 'c', (completed_at AT TIME ZONE 'UTC')::date, 0, NULL FROM chapter_progress
 WHERE user_id = $1 AND completed AND completed_at >= $6 AND completed_at < $7
UNION ALL
SELECT DISTINCT 'q', (ts AT TIME ZONE 'UTC')::date, 0, course_id || '|' || quiz_id
  FROM quiz_attempts WHERE user_id = $1 AND passed AND status = 'counted' AND ts >= $6
   AND ts < $7
UNION ALL
SELECT 'k', (completed_at AT TIME ZONE 'UTC')::date, 0, NULL FROM course_progress
 WHERE user_id = $1 AND completed_at >= $6 AND completed_at < $7
"""


async def report(conn: Conn, user_id: str, period: rules.Period) -> ReportView:
    before = rules.previous(period)
    lo, hi = before.start, period.end + timedelta(days=1)
    lo_at, hi_at = _dt(_ms(lo)), _dt(_ms(hi))
    rows = await conn.fetch(_FACTS, user_id, lo, period.end, _ms(lo), _ms(hi), lo_at, hi_at)
    by: dict[str, list[date]] = {"s": [], "c": [], "k": []}
    activity: dict[date, int] = {}
    quizzes: list[tuple[str, date]] = []
    for r in rows:
        if r["k"] == "a":
            activity[r["day"]] = r["n"]
        elif r["k"] == "q":
            quizzes.append((r["quiz"], r["day"]))
        else:
            by[r["k"]].append(r["day"])
    facts = rules.LearnerFacts(activity, by["s"], by["c"], quizzes, by["k"])
    now, prev = rules.figures(facts, period), rules.figures(facts, before)
    return ReportView(
        user_id=user_id, period=period.name, start=period.start, end=period.end,
        previous=ReportPeriod(period=before.name, start=before.start, end=before.end),
        figures=now, previous_figures=prev, change=rules.change(now, prev),
    )


async def forecast(
    conn: Conn, user_id: str, course_id: str, as_of: datetime, at_risk_days: int
) -> ForecastView | None:
    cp = await conn.fetchrow(
        "SELECT percent_complete, status, completed_at, last_accessed_at, visible"
        " FROM course_progress"
        " WHERE user_id = $1 AND course_id = $2", user_id, course_id,
    )
    if cp is None or not cp["visible"]:
        return None
    _, total, done = await _required(conn, user_id, course_id)
    last = await conn.fetchval(
        "SELECT max(day) FROM course_activity_days WHERE user_id = $1 AND course_id = $2",
        user_id, course_id,
    )
    active = [] if last is None else await _days(
        conn, user_id, course_id, last - timedelta(days=rules.VELOCITY_DAYS - 1), last
    )
    f = rules.forecast(
        completed_at=cp["completed_at"], last_activity_day=last,
        last_accessed_at=cp["last_accessed_at"], active_days=active, completions=done,
        total_weight=total, as_of=as_of, at_risk_days=at_risk_days,
    )
    pct = cp["percent_complete"]
    return ForecastView(
        user_id=user_id, course_id=course_id, percent_complete=None if pct is None else float(pct),
        status=cp["status"], last_accessed_at=cp["last_accessed_at"],
        predicted_completion_at=f.predicted_completion_at, velocity=f.velocity,
        at_risk=f.at_risk, as_of=as_of,
    )
