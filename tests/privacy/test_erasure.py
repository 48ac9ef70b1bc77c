"""Erasing a learner leaves nothing of them in PostgreSQL or Redis, even with events in flight."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from buffer.keys import shard_of
from tests.helpers import auth, event, now_ms
from tests.pipeline import Pipeline
from tests.privacy.conftest import bearer
from tests.privacy.test_export import some_progress
from waymark.settings import Settings

KEPT = {("erased_users", ""), ("outbox", "user.erased")}
"""What may name the learner after an erasure: the tombstone and the one user.erased event."""


async def rows_naming(database_url: str, user: str) -> set[tuple[str, str]]:
    """(table, outbox type or "") of every row with ``user_id = user``, in every table."""
    conn = await asyncpg.connect(database_url)
    try:
        tables = [r[0] for r in await conn.fetch(
            "SELECT DISTINCT c.table_name FROM information_schema.columns c"
            " JOIN information_schema.tables t USING (table_schema, table_name)"
            " WHERE c.table_schema = 'public' AND c.column_name = 'user_id'"
            " AND t.table_type = 'BASE TABLE'")]
        found = set()
        for t in tables:
            kind = "type" if t == "outbox" else "''"
            for r in await conn.fetch(f'SELECT {kind} FROM "{t}" WHERE user_id = $1', user):
                found.add((t, r[0]))
        return found
    finally:
        await conn.close()


async def redis_naming(redis_url: str, user: str) -> list[tuple[str, Any]]:
    """Every key, hash field, zset member or stream entry that names ``user``, but the
    tombstone and the user.erased event."""
    found: list[tuple[str, Any]] = []
    mark = user.encode()
    async with Redis.from_url(redis_url) as r:
        async for key in r.scan_iter(count=1000):
            kind = (await r.type(key)).decode()
            if mark in key:
                found.append((key.decode(), "key"))
            if kind == "hash":
                found += [(key.decode(), f) for f in await r.hkeys(key) if mark in f]
            elif kind == "zset":
                members = [m for m in await r.zrange(key, 0, -1) if mark in m]
                if key.endswith(b":erased"):
                    members = [m for m in members if m != mark]
                found += [(key.decode(), m) for m in members]
            elif kind == "stream":
                found += [(key.decode(), i) for i, f in await r.xrange(key)
                          if f.get(b"user_id") == mark and f.get(b"type") != b"user.erased"]
            elif kind == "string" and mark in (await r.get(key) or b""):
                found.append((key.decode(), "value"))
    return found


async def erase(client: TestClient, user: str) -> dict[str, Any]:
    resp = await client.delete(f"/v1/users/{user}", headers=auth())
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_erasure_while_the_learners_events_flow_leaves_nothing_behind(
    client: TestClient, pipeline: Pipeline, redis_url: str, database_url: str,
) -> None:
    await some_progress(client, pipeline)
    await some_progress(client, pipeline, user="u-2")
    stop = asyncio.Event()

    async def flow() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            batch = [event("chapter_progress", chapter_id=f"ch-{n % 3 + 1}", progress=n % 100,
                           time_spent_s=1, ts=now_ms() - 1000)]
            await client.post("/v1/events", json={"events": batch}, headers=auth())
            if n % 3 == 0:
                await pipeline.flush()
            await asyncio.sleep(0)

    task = asyncio.create_task(flow())
    await asyncio.sleep(0.3)
    body = await erase(client, "u-1")
    await asyncio.sleep(0.3)
    stop.set()
    await task
    await pipeline.flush()
    assert body["user_id"] == "u-1"
    assert await rows_naming(database_url, "u-1") <= KEPT
    assert ("erased_users", "") in await rows_naming(database_url, "u-1")
    assert await redis_naming(redis_url, "u-1") == []
    assert await rows_naming(database_url, "u-2") >= {("course_progress", "")}
    for path in ("/v1/users/u-1/courses/c-1", "/v1/users/u-1/summary", "/v1/users/u-1/export"):
        assert (await client.get(path, headers=auth())).status == 404, path
    listed = await (await client.get("/v1/users/u-1/courses", headers=auth())).json()
    assert listed["items"] == []


async def test_a_batch_drained_before_the_erasure_is_dropped_when_applied_after_it(
    client: TestClient, pipeline: Pipeline, settings: Settings, redis_url: str,
    database_url: str,
) -> None:
    neighbour = next(u for u in (f"n-{i}" for i in range(100))
                     if shard_of(u, settings.shards) == shard_of("u-1", settings.shards))
    events = [event("chapter_progress", chapter_id="ch-1", progress=50),
              event("chapter_progress", user_id=neighbour, chapter_id="ch-1", progress=30),
              event("chapter_completed", chapter_id="ch-9")]
    assert (await client.post("/v1/events", json={"events": events}, headers=auth())).status == 202
    buffer = pipeline.buffer
    shard = buffer.shard_of("u-1")
    held = await buffer.drain(shard, 10)  # a worker holds them, in flight
    assert held is not None and len(held.entries) == 3
    poison = [event("chapter_progress", chapter_id="ch-2", progress=70)]
    assert (await client.post("/v1/events", json={"events": poison}, headers=auth())).status == 202
    dead = await buffer.drain(shard, 10)  # and this one was dead-lettered
    assert dead is not None
    meta = {"error": "ValueError: boom", "tries": 5, "at": 0.0, "batch_id": dead.batch_id}
    await buffer.dead_letter(dead, f"{dead.batch_id}.0", [k for k, _ in dead.entries], meta,
                             finish=True)

    await erase(client, "u-1")
    assert await redis_naming(redis_url, "u-1") == []
    assert await buffer.dead_letter_count() == 0
    await pipeline.state.flusher.flush(held)  # the worker goes on after the erasure
    await pipeline.flush()

    assert await rows_naming(database_url, "u-1") <= KEPT
    assert ("chapter_progress", "") in await rows_naming(database_url, neighbour)
    assert await buffer.inflight_batches() == 0


async def test_erasing_twice_answers_the_same_and_announces_once(
    client: TestClient, pipeline: Pipeline, database_url: str,
) -> None:
    await some_progress(client, pipeline)
    first = await erase(client, "u-1")
    second = await erase(client, "u-1")
    assert first == second
    conn = await asyncpg.connect(database_url)
    try:
        announced = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE user_id = 'u-1' AND type = 'user.erased'")
        kept = await conn.fetchrow("SELECT * FROM erased_users WHERE user_id = 'u-1'")
    finally:
        await conn.close()
    assert announced == 1 and kept["erasures"] == 1


async def test_old_events_are_refused_and_later_ones_start_afresh(
    client: TestClient, pipeline: Pipeline,
) -> None:
    await some_progress(client, pipeline)
    erased = await erase(client, "u-1")
    old = event("chapter_progress", chapter_id="ch-1", progress=90)
    new = event("chapter_progress", chapter_id="ch-2", progress=20, ts=now_ms() + 1000)
    resp = await client.post("/v1/events", json={"events": [old, new]}, headers=auth())
    body = await resp.json()
    assert resp.status == 202 and body["accepted"] == 1
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [(0, "user_erased")]
    assert erased["erased_at"][:19] in body["rejected"][0]["message"]
    # sent again: the old event is refused again (a refusal is not remembered as seen), the
    # new one is a duplicate, and another learner's event in the same request goes in
    other = event("chapter_progress", user_id="u-2", chapter_id="ch-1", progress=5)
    resp = await client.post("/v1/events", json={"events": [old, new, other]}, headers=auth())
    body = await resp.json()
    assert (body["accepted"], body["duplicates"]) == (1, 1)
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [(0, "user_erased")]
    await pipeline.flush()
    view = await (await client.get("/v1/users/u-1/courses/c-1", headers=auth())).json()
    chapters = {ch["chapter_id"]: ch["progress"] for m in view["modules"] for ch in m["chapters"]}
    assert chapters == {"ch-1": 0, "ch-2": 20, "ch-3": 0, "ch-4": 0}
    again = await erase(client, "u-1")  # the learner came back: a new erasure, a new time
    assert again["erased_at"] > erased["erased_at"]


async def test_only_an_admin_key_erases(client: TestClient, pipeline: Pipeline) -> None:
    await some_progress(client, pipeline)
    own = await client.delete("/v1/users/u-1", headers=bearer("u-1"))
    assert own.status == 403 and (await own.json())["error"]["code"] == "insufficient_scope"
    reader = await client.delete("/v1/users/u-1", headers=auth("test-read-secret"))
    assert reader.status == 403
    assert (await client.get("/v1/users/u-1/summary", headers=auth())).status == 200


async def test_an_erasure_waits_for_an_apply_of_the_learner_in_progress(
    client: TestClient, pipeline: Pipeline, database_url: str,
) -> None:
    await some_progress(client, pipeline)
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():  # an apply transaction holding the learner's lock
            assert await conn.fetch("SELECT * FROM waymark_lock_learners($1)", ["u-1"]) == []
            erasing = asyncio.create_task(erase(client, "u-1"))
            await asyncio.sleep(0.3)
            assert not erasing.done()
            await conn.execute("INSERT INTO daily_activity (user_id, day)"
                               " VALUES ('u-1', '2026-01-01')"
                               " ON CONFLICT DO NOTHING")
        await erasing
        assert await conn.fetch("SELECT * FROM waymark_lock_learners($1)", ["u-1"]) != []
    finally:
        await conn.close()
    assert await rows_naming(database_url, "u-1") <= KEPT  # what it wrote went too
