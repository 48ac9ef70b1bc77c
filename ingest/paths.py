"""Ids in request paths follow the same rule as ids in events, checked once for all
routes: anything else is a 400 ``invalid_id`` before a handler, a query or a Redis key sees it.
"""

from __future__ import annotations

import re

from aiohttp import web

from ingest.errors import BadRequest, Handler
from waymark_client.wire import ID_PATTERN

_ID = re.compile(ID_PATTERN)
PATH_IDS = ("user_id", "course_id", "quiz_id", "achievement_id")


@web.middleware
async def path_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    for name in PATH_IDS:
        value = request.match_info.get(name)
        if value is not None and not _ID.match(value):
            raise BadRequest(
                f"{name} must be 1 to 128 characters among A-Z a-z 0-9 . _ : @ / + = -",
                code="invalid_id",
            )
    return await handler(request)
