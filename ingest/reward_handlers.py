"""Achievements, points, leaderboards and preferences: thin edges over ``aggregator``.

Definitions are admin routes; a learner's achievements, points and preferences are their own
(``self_service``); the leaderboard is readable with a read key or any user token, and with a
user token it adds the caller's own rank.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from aiohttp import web

from aggregator import achievements, points, queries
from ingest.auth import PRINCIPAL
from ingest.body import decode_as, read_body
from ingest.context import POOL, QUEUE, SETTINGS
from ingest.errors import BadRequest, NotFound
from ingest.handlers import json_response
from ingest.replica import reading

PERIODS = ("week", "month", "all")
MAX_LIMIT = queries.MAX_LIMIT


async def put_achievement(request: web.Request) -> web.Response:
    app = request.app
    achievement_id = request.match_info["achievement_id"]
    body = await read_body(request, app[SETTINGS].max_body_bytes, app[SETTINGS].body_timeout_s)
    try:
        doc = msgspec.json.decode(body, type=achievements.AchievementDefinition)
    except msgspec.ValidationError as e:
        raise BadRequest(f"invalid definition: {e}", code="invalid_definition") from None
    except msgspec.DecodeError:
        doc = decode_as("json", body, achievements.AchievementDefinition)  # its usual error
    try:
        async with app[POOL].acquire() as conn:
            version = await achievements.store(conn, achievement_id, doc)
            view = await achievements.load(conn, achievement_id)
    except achievements.DefinitionError as e:
        raise BadRequest(str(e), code=e.code) from None
    await app[QUEUE].enqueue_job("backfill_achievement", achievement_id, version)
    return json_response(view)


async def get_achievement(request: web.Request) -> web.Response:
    achievement_id = request.match_info["achievement_id"]
    async with request.app[POOL].acquire() as conn:
        view = await achievements.load(conn, achievement_id)
    if view is None:
        raise NotFound(f"no achievement {achievement_id!r}")
    return json_response(view)


async def list_achievements(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        return json_response(await achievements.list_all(conn))


async def user_achievements(request: web.Request) -> web.Response:
    async with reading(request) as conn:
        return json_response(await achievements.read_awards(conn, request.match_info["user_id"]))


async def user_points(request: web.Request) -> web.Response:
    async with reading(request) as conn:
        return json_response(await points.read_points(conn, request.match_info["user_id"]))


async def put_preferences(request: web.Request) -> web.Response:
    app = request.app
    body = await read_body(request, app[SETTINGS].max_body_bytes, app[SETTINGS].body_timeout_s)
    prefs = decode_as("json", body, points.Preferences)
    async with app[POOL].acquire() as conn:
        return json_response(await points.set_preferences(conn, request.match_info["user_id"],
                                                          prefs))


async def get_preferences(request: web.Request) -> web.Response:
    async with reading(request) as conn:
        return json_response(await points.get_preferences(conn, request.match_info["user_id"]))


async def leaderboard(request: web.Request) -> web.Response:
    q = request.query
    period = q.get("period", "all")
    if period not in PERIODS:
        raise BadRequest("period must be week, month or all", code="invalid_query")
    try:
        limit = int(q.get("limit", "10"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer in [1, {MAX_LIMIT}]",
                         code="invalid_query")
    course_id = q.get("course_id") or None
    me = request[PRINCIPAL].user_id
    async with reading(request) as conn:
        board = await points.leaderboard(conn, course_id, period, limit,
                                         datetime.now(UTC).date(), me)
    return json_response(board)
