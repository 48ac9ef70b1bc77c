"""Assessment reads: a learner's attempts and eligibility, an instructor's quiz statistics.

Thin edges over ``aggregator.quiz_reads``; a user token reaches only its own learner's routes
(``self_service`` in ``ingest.routes``).
"""

from __future__ import annotations

from aiohttp import web

from aggregator import quiz_reads
from ingest.errors import NotFound
from ingest.handlers import as_of, json_response
from ingest.replica import reading


def _ids(request: web.Request) -> tuple[str, str, str]:
    m = request.match_info
    return m["user_id"], m["course_id"], m["quiz_id"]


async def quiz_attempts(request: web.Request) -> web.Response:
    async with reading(request) as conn:
        return json_response(await quiz_reads.attempts(conn, *_ids(request)))


async def quiz_eligibility(request: web.Request) -> web.Response:
    at = as_of(request)
    async with reading(request) as conn:
        return json_response(await quiz_reads.eligibility_of(conn, *_ids(request), at))


async def quiz_stats(request: web.Request) -> web.Response:
    course_id, quiz_id = request.match_info["course_id"], request.match_info["quiz_id"]
    async with reading(request) as conn:
        stats = await quiz_reads.quiz_stats(conn, course_id, quiz_id)
    if stats is None:
        raise NotFound(f"no definition and no attempt of quiz {quiz_id!r} in {course_id!r}",
                       code="quiz_not_found")
    return json_response(stats)
