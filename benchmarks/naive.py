"""The naive progress service, as most learning platforms ship it: one transaction per event.

Per event: ``SELECT … FOR UPDATE`` of the chapter row, ``UPDATE`` or ``INSERT`` it, recompute
the course percent with ``COUNT``s, ``COMMIT``. It is served behind the same HTTP front as
Waymark (same body reading, same msgspec validation) so a benchmark compares only what happens
after validation.

    .venv/bin/python -m benchmarks.naive --port 8090   # DATABASE_URL, WAYMARK_API_KEYS from env
"""

from __future__ import annotations

import argparse
import time
from collections.abc import AsyncIterator

import asyncpg
import msgspec
from aiohttp import web

from ingest.auth import KeyRing
from ingest.body import body_format, decode_as, read_body
from ingest.errors import error_middleware
from waymark.settings import Settings
from waymark_client.wire import (
    BatchResult,
    ChapterCompleted,
    ChapterProgress,
    RawBatch,
    to_epoch_ms,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS naive_chapter (
    user_id text, course_id text, chapter_id text, progress float8 NOT NULL,
    completed bool NOT NULL, time_spent_s float8 NOT NULL, position_s float8, ts bigint,
    PRIMARY KEY (user_id, course_id, chapter_id));
CREATE TABLE IF NOT EXISTS naive_course (
    user_id text, course_id text, percent float8 NOT NULL, PRIMARY KEY (user_id, course_id));
"""

POOL = web.AppKey("pool", asyncpg.Pool)
KEYS = web.AppKey("keys", KeyRing)
_decode = msgspec.json.Decoder(ChapterProgress | ChapterCompleted).decode


async def apply_event(conn: asyncpg.Connection, ev: ChapterProgress | ChapterCompleted) -> None:
    done = isinstance(ev, ChapterCompleted) or ev.progress >= 100
    progress = 100.0 if done else ev.progress  # type: ignore[union-attr]
    pos = getattr(ev, "position_s", None)
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT progress, completed FROM naive_chapter"
            " WHERE user_id = $1 AND course_id = $2 AND chapter_id = $3 FOR UPDATE",
            ev.user_id, ev.course_id, ev.chapter_id,
        )
        if row is None:
            await conn.execute(
                "INSERT INTO naive_chapter VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " ON CONFLICT DO NOTHING",
                ev.user_id, ev.course_id, ev.chapter_id, progress, done, ev.time_spent_s, pos,
                to_epoch_ms(ev.ts),
            )
        else:
            await conn.execute(
                "UPDATE naive_chapter SET progress = greatest(progress, $4),"
                " completed = completed OR $5, time_spent_s = time_spent_s + $6,"
                " position_s = coalesce($7, position_s), ts = $8"
                " WHERE user_id = $1 AND course_id = $2 AND chapter_id = $3",
                ev.user_id, ev.course_id, ev.chapter_id, progress, done, ev.time_spent_s, pos,
                to_epoch_ms(ev.ts),
            )
        await conn.execute(
            "INSERT INTO naive_course SELECT $1, $2, 100.0 * count(*) FILTER (WHERE completed)"
            " / greatest(count(*), 1) FROM naive_chapter WHERE user_id = $1 AND course_id = $2"
            " ON CONFLICT (user_id, course_id) DO UPDATE SET percent = excluded.percent",
            ev.user_id, ev.course_id,
        )


async def post_events(request: web.Request) -> web.Response:
    request.app[KEYS].require(request, "ingest")
    fmt = body_format(request)
    batch = decode_as(fmt, await read_body(request, 1024 * 1024), RawBatch)
    accepted = 0
    async with request.app[POOL].acquire() as conn:
        for raw in batch.events:
            await apply_event(conn, _decode(raw))
            accepted += 1
    body = msgspec.json.encode(BatchResult(accepted=accepted, duplicates=0, rejected=[]))
    return web.Response(body=body, status=202, content_type="application/json")


def create_app(settings: Settings) -> web.Application:
    async def pool(app: web.Application) -> AsyncIterator[None]:
        assert settings.database_url is not None
        app[POOL] = p = await asyncpg.create_pool(settings.database_url, min_size=2, max_size=10)
        async with p.acquire() as conn:
            await conn.execute(SCHEMA)
        yield
        await p.close()

    app = web.Application(middlewares=[error_middleware])
    app[KEYS] = KeyRing(settings.api_keys)
    app.cleanup_ctx.append(pool)
    app.router.add_post("/v1/events", post_events)
    app.router.add_get("/health", lambda r: web.json_response({"status": "ok"}))
    return app


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8090)
    args = ap.parse_args()
    time.sleep(0)
    web.run_app(create_app(Settings.from_env()), host="127.0.0.1", port=args.port,
                access_log=None, print=None)
