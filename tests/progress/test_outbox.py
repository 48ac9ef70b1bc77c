"""Domain events: written with the change they describe, relayed exactly once."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from aggregator.events import EVENTS_STREAM
from tests.helpers import event, now_ms
from tests.integration.test_pipeline import post, put_catalog
from tests.pipeline import Pipeline
from tests.progress.support import outbox, stop_background_relay, types_of
from workers.outbox import prune_sent, relay_once


class RelayCrash(Exception):
    pass


async def _stream(redis_url: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    async with Redis.from_url(redis_url) as r:
        entries: Any = await r.xrange(EVENTS_STREAM)
        return list(entries)


async def test_each_state_change_is_written_once_with_the_change(
    client: TestClient, pipeline: Pipeline, database_url: str
) -> None:
    await stop_background_relay(pipeline)
    await put_catalog(client)
    t = now_ms() - 60_000
    await post(client, [
        event("enrollment", status="enrolled", ts=t),
        event("chapter_completed", chapter_id="ch-1", ts=t + 1),
        event("quiz_attempt", quiz_id="q", attempt_id="a-1", score=3, max_score=10, ts=t + 2),
    ])
    await pipeline.flush()
    await post(client, [event("chapter_progress", chapter_id="ch-1", progress=50, ts=t + 3),
                        event("chapter_uncompleted", chapter_id="ch-1", ts=t + 4)])
    await pipeline.flush()
    await post(client, [event("course_reset", ts=t + 5)])
    await pipeline.flush()
    rows = await outbox(database_url)
    assert [r["type"] for r in rows] == [
        "enrollment.changed", "chapter.completed", "quiz.failed", "course.progressed",
        "chapter.uncompleted", "course.progressed",
        "course.reset",
    ]
    progressed = [r for r in rows if r["type"] == "course.progressed"]
    assert '"percent_complete": 25.0' in progressed[0]["payload"]
    assert all(r["user_id"] == "u-1" and r["course_id"] == "c-1" for r in rows)
    await pipeline.flush()  # nothing left: no change, no event
    assert len(await outbox(database_url)) == len(rows)


async def test_a_course_completion_is_announced(
    client: TestClient, pipeline: Pipeline, database_url: str
) -> None:
    await stop_background_relay(pipeline)
    await put_catalog(client)
    await post(client, [event("chapter_completed", chapter_id=c) for c in ("ch-1", "ch-2", "ch-3")])
    await pipeline.flush()
    types = [t for t, _ in types_of(await outbox(database_url))]
    assert types.count("chapter.completed") == 3
    assert types[-2:] == ["course.progressed", "course.completed"]


@pytest.mark.parametrize("crashes", [1, 3])
async def test_a_relay_killed_mid_way_loses_and_duplicates_nothing(
    client: TestClient, pipeline: Pipeline, database_url: str, redis_url: str, crashes: int
) -> None:
    await stop_background_relay(pipeline)
    users = [f"u-{i}" for i in range(12)]
    await post(client, [event("enrollment", user_id=u, status="enrolled") for u in users])
    await pipeline.flush()
    pool, redis = pipeline.state.pool, pipeline.state.redis

    async def crash(numbers: list[int]) -> None:
        raise RelayCrash(numbers)

    for _ in range(crashes):  # added to the stream, never marked sent
        with pytest.raises(RelayCrash):
            await relay_once(pool, redis, limit=5, after_add=crash)
    await post(client, [event("enrollment", user_id="u-late", status="paused")])
    await pipeline.flush()
    for _ in range(20):
        await relay_once(pool, redis, limit=5)
        if all(r["sent_at"] is not None for r in await outbox(database_url)):
            break
    entries = await _stream(redis_url)
    ids = [f[b"event_id"] for _, f in entries]
    assert len(ids) == len(set(ids)) == len(users) + 1
    assert sorted(f[b"user_id"].decode() for _, f in entries) == sorted([*users, "u-late"])
    rows = await outbox(database_url)
    assert all(r["sent_at"] is not None for r in rows)
    assert [e[0] for e in entries] == [f"0-{r['stream_no']}".encode() for r in rows]


async def test_relayed_rows_are_forgotten_after_their_retention(
    client: TestClient, pipeline: Pipeline, database_url: str
) -> None:
    await stop_background_relay(pipeline)
    await post(client, [event("enrollment", status="enrolled")])
    await pipeline.flush()
    pool, redis = pipeline.state.pool, pipeline.state.redis
    assert await prune_sent(pool, keep_s=0) == 0  # not relayed yet: kept
    await relay_once(pool, redis)
    assert await prune_sent(pool, keep_s=3600) == 0
    assert await prune_sent(pool, keep_s=0) == 1
    assert await outbox(database_url) == []


async def test_after_a_restore_to_an_earlier_point_new_events_are_neither_skipped_nor_doubled(
    client: TestClient, pipeline: Pipeline, database_url: str, redis_url: str
) -> None:
    """PostgreSQL restored to a point before its last relayed rows: the stream already holds
    numbers the restored outbox will give out again. New events must still reach the stream."""
    await stop_background_relay(pipeline)
    pool, redis = pipeline.state.pool, pipeline.state.redis
    await post(client, [event("enrollment", user_id=f"u-{i}", status="enrolled") for i in range(6)])
    await pipeline.flush()
    await relay_once(pool, redis)
    before = await _stream(redis_url)
    assert len(before) == 6
    third = int(before[2][0].split(b"-")[1])
    async with pool.acquire() as conn:  # what a restore to just after the 3rd row looks like
        await conn.execute("DELETE FROM outbox WHERE stream_no > $1", third)
        await conn.execute("SELECT setval('outbox_stream_no', $1)", third)
    await post(client, [event("enrollment", user_id=f"u-new-{i}", status="paused")
                        for i in range(4)])
    await pipeline.flush()
    for _ in range(5):
        await relay_once(pool, redis)
    entries = await _stream(redis_url)
    users = [f[b"user_id"].decode() for _, f in entries]
    assert users[:6] == [f[b"user_id"].decode() for _, f in before]
    assert sorted(users[6:]) == [f"u-new-{i}" for i in range(4)]  # all four, once each
    numbers = [int(e[0].split(b"-")[1]) for e in entries]
    assert numbers == sorted(numbers) and numbers[6] > numbers[5]
    assert all(r["sent_at"] is not None for r in await outbox(database_url))


async def test_a_row_added_before_a_relay_crash_is_not_renumbered(
    client: TestClient, pipeline: Pipeline, redis_url: str, database_url: str
) -> None:
    await stop_background_relay(pipeline)
    pool, redis = pipeline.state.pool, pipeline.state.redis
    await post(client, [event("enrollment", user_id=f"u-{i}", status="enrolled") for i in range(3)])
    await pipeline.flush()

    async def crash(numbers: list[int]) -> None:
        raise RelayCrash(numbers)

    with pytest.raises(RelayCrash):
        await relay_once(pool, redis, after_add=crash)
    added = [e[0] for e in await _stream(redis_url)]
    await relay_once(pool, redis)  # the same numbers, the same events: only marked
    assert [e[0] for e in await _stream(redis_url)] == added and len(added) == 3
    rows = await outbox(database_url)
    assert [f"0-{r['stream_no']}".encode() for r in rows] == added
    assert all(r["sent_at"] is not None for r in rows)
