"""Learning-analytics handlers: sessions, progress history, reports, forecast, skills.

Thin edges: decode the query, call ``aggregator.learner_analytics``, encode.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from aiohttp import web

from aggregator import learner_analytics as analytics
from aggregator import report_rules, skills
from ingest.context import SETTINGS
from ingest.errors import BadRequest, NotFound
from ingest.handlers import json_response
from ingest.reads import parse_date
from ingest.replica import reading

FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)
MAX_SESSION_DAYS = 400
MAX_HISTORY_DAYS = 1100
"""Three years of days: a two-year course history fits one read."""


def _range(request: web.Request, default_days: int, max_days: int) -> tuple[date, date]:
    """``from``…``to``; ``to`` defaults to today, ``from`` to ``default_days`` before it."""
    today = datetime.now(UTC).date()
    end = parse_date(request, "to", today)
    start = parse_date(request, "from", end - timedelta(days=default_days - 1))
    if start > end or (end - start).days >= max_days or not FIRST_DAY <= start <= end <= LAST_DAY:
        raise BadRequest(f"from must not be after to, the range at most {max_days} days, both"
                         f" between {FIRST_DAY} and {LAST_DAY}", code="invalid_query")
    return start, end


async def user_sessions(request: web.Request) -> web.Response:
    start, end = _range(request, 30, MAX_SESSION_DAYS)
    async with reading(request) as conn:
        view = await analytics.sessions(conn, request.match_info["user_id"], start, end)
    return json_response(view)


async def course_history(request: web.Request) -> web.Response:
    user_id, course_id = request.match_info["user_id"], request.match_info["course_id"]
    start, end = _range(request, 90, MAX_HISTORY_DAYS)
    async with reading(request) as conn:
        view = await analytics.history(conn, user_id, course_id, start, end)
    if view is None:
        raise NotFound(f"no progress for user {user_id!r} in course {course_id!r}")
    return json_response(view)


async def _report(
    request: web.Request, name: str, parse: Callable[[str], report_rules.Period],
    current: Callable[[date], report_rules.Period],
) -> web.Response:
    raw = request.query.get(name)
    try:
        period = current(datetime.now(UTC).date()) if raw is None else parse(raw)
    except report_rules.PeriodError as e:
        raise BadRequest(str(e), code=e.code) from None
    async with reading(request) as conn:
        view = await analytics.report(conn, request.match_info["user_id"], period)
    return json_response(view)


async def weekly_report(request: web.Request) -> web.Response:
    return await _report(request, "week", report_rules.week, report_rules.week_of)


async def monthly_report(request: web.Request) -> web.Response:
    return await _report(request, "month", report_rules.month, report_rules.month_of)


async def course_forecast(request: web.Request) -> web.Response:
    user_id, course_id = request.match_info["user_id"], request.match_info["course_id"]
    now = datetime.now(UTC).replace(microsecond=0)
    async with reading(request) as conn:
        view = await analytics.forecast(conn, user_id, course_id, now,
                                        request.app[SETTINGS].at_risk_days)
    if view is None:
        raise NotFound(f"no progress for user {user_id!r} in course {course_id!r}")
    return json_response(view)


async def user_skills(request: web.Request) -> web.Response:
    user_id = request.match_info["user_id"]
    async with reading(request) as conn:
        view = await skills.skills(conn, user_id)
    if view is None:
        raise NotFound(f"no progress for user {user_id!r}", code="user_not_found")
    return json_response(view)
