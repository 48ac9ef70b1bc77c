"""Learning paths: definitions (admin) and a learner's progress along them.

Thin edges over ``aggregator.paths`` and ``aggregator.path_progress``; a user token reaches only
its own learner's routes (``self_service`` in ``ingest.routes``).
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from aggregator import path_progress, paths
from ingest.body import read_body
from ingest.context import POOL, QUEUE, RULES, SETTINGS
from ingest.errors import BadRequest, NotFound
from ingest.handlers import json_response
from ingest.replica import reading


async def put_path(request: web.Request) -> web.Response:
    app = request.app
    body = await read_body(request, app[SETTINGS].max_body_bytes, app[SETTINGS].body_timeout_s)
    try:
        doc = paths.decode(body)
        async with app[POOL].acquire() as conn:
            view, moved = await paths.store(conn, request.match_info["path_id"], doc)
    except paths.PathError as e:
        raise BadRequest(str(e), code=e.code) from None
    except msgspec.DecodeError as e:
        raise BadRequest(f"body is not valid JSON: {e}", code="malformed_body") from None
    for c in view.courses:  # an enrollment's path_id is checked against fresh rules here
        app[RULES].forget(c.course_id)
    if moved:
        await app[QUEUE].enqueue_job("recompute_path", view.path_id)
    return json_response(view)


async def get_path(request: web.Request) -> web.Response:
    path_id = request.match_info["path_id"]
    async with request.app[POOL].acquire() as conn:
        view = await paths.load(conn, path_id)
    if view is None:
        raise NotFound(f"no path {path_id!r}", code="path_not_found")
    return json_response(view)


async def user_path(request: web.Request) -> web.Response:
    user_id, path_id = request.match_info["user_id"], request.match_info["path_id"]
    async with reading(request) as conn:
        view = await path_progress.progress_of(conn, user_id, path_id)
    if view is None:
        raise NotFound(f"user {user_id!r} is not on path {path_id!r}", code="path_not_found")
    return json_response(view)


async def user_paths(request: web.Request) -> web.Response:
    user_id = request.match_info["user_id"]
    raw = request.query.get("limit", "20")
    limit = int(raw) if raw.isdigit() else 0
    if not 1 <= limit <= path_progress.MAX_LIMIT:
        raise BadRequest(f"limit must be an integer in [1, {path_progress.MAX_LIMIT}]",
                         code="invalid_query")
    cursor = request.query.get("cursor", "")
    async with reading(request) as conn:
        return json_response(await path_progress.paths_of_user(conn, user_id, limit, cursor))
