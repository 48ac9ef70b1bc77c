"""The buffer's shard count is recorded in Redis: a process started with another
``WAYMARK_SHARDS`` while the buffer holds keys refuses to start and changes nothing; with the
buffer empty, the count may change."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from buffer.fold import PROGRESS, TailEvent
from buffer.keys import keyid
from buffer.layout import SHARDS_KEY, ShardCountMismatch, claim_shard_count
from buffer.merge_buffer import MergeBuffer, ShardWrite
from devstack.processes import free_port
from tests.conftest import API_KEYS
from tests.stack_process import REPO, stack_env
from waymark.bootstrap import open_backends
from waymark.settings import Settings, SettingsError


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    async with Redis.from_url(redis_url) as r:
        yield r


def buffer_of(redis: Redis, shards: int) -> MergeBuffer:
    return MergeBuffer(redis, shards=shards, merge_window_ms=0, dedup_window_s=3600, lease_s=30)


async def write_events(buffer: MergeBuffer, users: list[str]) -> None:
    writes: dict[int, ShardWrite] = {}
    for i, user in enumerate(users):
        w = writes.setdefault(buffer.shard_of(user), ShardWrite())
        n = w.add_event(i, f"e-{user}", None, None, user, 1_000)
        w.chapter_op(n, keyid(user, "c", "ch"), False,
                     TailEvent(1_000, f"e-{user}", PROGRESS, 5.0, 0, -1))
    await buffer.write(writes)


async def snapshot(redis: Redis) -> dict[bytes, bytes]:
    return {k: await redis.dump(k) for k in sorted(await redis.keys("*"))}


async def test_the_first_process_records_its_count_and_the_same_count_passes(
    redis: Redis,
) -> None:
    assert await claim_shard_count(redis, 4) is None
    assert await redis.get(SHARDS_KEY) == b"4"
    assert await claim_shard_count(redis, 4) is None
    assert await redis.get(SHARDS_KEY) == b"4"


async def test_another_count_is_refused_while_keys_wait_and_nothing_changes(redis: Redis) -> None:
    await claim_shard_count(redis, 4)
    buffer = buffer_of(redis, 4)
    await write_events(buffer, [f"u{i}" for i in range(10)])
    before = await snapshot(redis)
    with pytest.raises(ShardCountMismatch) as refused:
        await claim_shard_count(redis, 8)
    assert (refused.value.configured, refused.value.recorded, refused.value.held) == (8, 4, 10)
    assert "WAYMARK_SHARDS is 8" in str(refused.value)
    assert "WAYMARK_SHARDS=4" in str(refused.value)
    assert await snapshot(redis) == before


async def test_a_leased_batch_holds_the_count_until_it_is_acknowledged(redis: Redis) -> None:
    await claim_shard_count(redis, 4)
    buffer = buffer_of(redis, 4)
    await write_events(buffer, [f"u{i}" for i in range(10)])
    leased = [b for s in range(4) if (b := await buffer.drain(s, 100)) is not None]
    assert await buffer.pending_keys() == 0 and leased
    with pytest.raises(ShardCountMismatch):
        await claim_shard_count(redis, 8)
    for batch in leased:
        await buffer.ack(batch)
    assert await claim_shard_count(redis, 8) == 4
    assert await redis.get(SHARDS_KEY) == b"8"
    # the new count is the one checked from now on
    await write_events(buffer_of(redis, 8), ["u1"])
    with pytest.raises(ShardCountMismatch) as refused:
        await claim_shard_count(redis, 4)
    assert refused.value.recorded == 8


async def test_a_dead_letter_holds_the_count(redis: Redis) -> None:
    await claim_shard_count(redis, 4)
    buffer = buffer_of(redis, 4)
    await write_events(buffer, ["u1"])
    shard = buffer.shard_of("u1")
    batch = await buffer.drain(shard, 100)
    assert batch is not None
    await buffer.dead_letter(batch, batch.batch_id, [batch.entries[0][0]], {"error": "x"},
                             finish=True)
    assert await buffer.pending_keys() == 0 and await buffer.inflight_batches() == 0
    with pytest.raises(ShardCountMismatch) as refused:
        await claim_shard_count(redis, 2)
    assert refused.value.held == 1


async def test_opening_the_backends_with_another_count_is_a_settings_error(
    redis: Redis, settings: Settings,
) -> None:
    async with open_backends(settings) as backends:
        await write_events(backends.buffer, ["u1", "u2"])
    with pytest.raises(SettingsError, match="WAYMARK_SHARDS is 7"):
        async with open_backends(replace(settings, shards=7)):
            pass
    assert await redis.get(SHARDS_KEY) == str(settings.shards).encode()


@pytest.mark.parametrize("command", ["worker", "serve"])
async def test_a_process_started_with_another_count_exits_with_the_message(
    redis: Redis, settings: Settings, command: str,
) -> None:
    async with open_backends(settings) as backends:
        await write_events(backends.buffer, ["u1"])
    env = stack_env(REDIS_URL=str(settings.redis_url), DATABASE_URL=str(settings.database_url),
                    WAYMARK_SHARDS=str(settings.shards * 2),
                    WAYMARK_WORKER_METRICS_PORT=str(free_port()),
                    WAYMARK_HTTP_PORT=str(free_port()), WAYMARK_METRICS_LISTEN="api",
                    WAYMARK_API_KEYS=API_KEYS)
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "waymark", command], env=env, cwd=REPO,
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"WAYMARK_SHARDS is {settings.shards * 2}" in done.stderr
    assert await redis.get(SHARDS_KEY) == str(settings.shards).encode()
