"""How ``merge.lua`` stores a chapter entry: whole in the buffer hash while its events are few,
in format 0's layout, which every release reads; with a tail key once they outgrow the inline
limit. Entries of releases up to 0.2 (always tailed) are read and extended."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from redis.asyncio import Redis

from buffer.entries import (
    INLINE_BYTES,
    ChapterOp,
    EventSlot,
    InlineChapter,
    MergeRequest,
    _decode_chapter_v1,
    decode_chapter,
    encode_request,
)
from buffer.fold import BUFFER_TAIL_CAP, PROGRESS, TAIL_LIMIT, TailEvent
from buffer.keys import keyid, shard_key
from buffer.merge_buffer import SOURCE_RING, MergeBuffer, ShardWrite
from tests.operations.release import git, previous_release

T0 = 1_700_000_000_000
KEY = keyid("u-1", "c-1", "ch-1")


@pytest.fixture
async def buffer(redis_url: str) -> AsyncIterator[MergeBuffer]:
    redis = Redis.from_url(redis_url)
    await redis.flushall()
    yield MergeBuffer(redis, shards=1, merge_window_ms=0, dedup_window_s=3600, lease_s=30)
    await redis.aclose()


def event(n: int) -> TailEvent:
    return TailEvent(T0 + n * 1000, f"event-{n:04d}", PROGRESS, float(n), 1000, float(n))


async def send(buffer: MergeBuffer, events: list[TailEvent]) -> None:
    w = ShardWrite()
    for i, ev in enumerate(events):
        w.chapter_op(w.add_event(i, ev.id, None, None), KEY, False, ev)
    await buffer.write({0: w})


async def stored(buffer: MergeBuffer) -> tuple[bytes, bool]:
    """The entry's hash value, and whether its tail key exists."""
    raw = await buffer.redis.hget(shard_key(0, "buf"), KEY)
    assert raw is not None
    return raw, bool(await buffer.redis.exists(shard_key(0, f"t:{KEY}")))


async def drained(buffer: MergeBuffer) -> bytes:
    batch = await buffer.drain(0, 10)
    assert batch is not None and [k for k, _ in batch.entries] == [KEY]
    await buffer.ack(batch)
    assert not await buffer.redis.exists(shard_key(0, f"t:{KEY}"))  # the drain took it
    return batch.entries[0][1]


def events_of(raw: bytes) -> list[TailEvent]:
    state, _ = decode_chapter(raw)
    return sorted(state.tail, key=lambda e: (e.ts, e.id))


async def test_a_few_events_stay_in_the_hash_and_are_drained_as_they_are(
    buffer: MergeBuffer,
) -> None:
    assert buffer.inline_bytes == INLINE_BYTES
    await send(buffer, [event(1), event(2)])
    await send(buffer, [event(3)])
    raw, tail_key = await stored(buffer)
    assert not tail_key
    entry = msgspec.msgpack.decode(raw, type=InlineChapter)
    assert entry.events == [event(1), event(2), event(3)]
    assert await drained(buffer) == raw


async def test_the_previous_releases_apply_step_reads_an_inline_entry(
    buffer: MergeBuffer,
) -> None:
    """0.2's ``decode_chapter`` took any entry not starting with 0x92 to its generic path."""
    await send(buffer, [event(1), event(2)])
    raw = await drained(buffer)
    wire: list[Any] = msgspec.msgpack.decode(raw)
    assert _decode_chapter_v1(wire) == decode_chapter(raw)


async def test_the_previous_releases_merge_script_extends_an_inline_entry(
    buffer: MergeBuffer,
) -> None:
    """An HTTP server of the previous release, beside this one, adds to an entry this one
    wrote inline: it reads format 0's layout, and rewrites the entry tailed."""
    old = buffer.redis.register_script(git("show", f"{previous_release()}:buffer/lua/merge.lua"))
    await send(buffer, [event(1), event(2)])
    assert (await stored(buffer))[0][0] == 0x93
    request = MergeRequest([EventSlot(event(3).id, 0, 0)], [ChapterOp(1, KEY, False, event(3))])
    keys = [shard_key(0, "buf"), shard_key(0, "due"), shard_key(0, "ids:old")]
    await old(keys=keys, args=[encode_request(request), 0, 3600, 3600, 1, SOURCE_RING,
                               TAIL_LIMIT, BUFFER_TAIL_CAP])
    raw, tail_key = await stored(buffer)
    assert raw[0] == 0x95 and tail_key
    await send(buffer, [event(4)])  # and this release extends what the old one wrote
    assert events_of(await drained(buffer)) == [event(n) for n in range(1, 5)]


async def test_an_entry_that_outgrows_the_limit_moves_its_events_to_a_tail_key(
    buffer: MergeBuffer,
) -> None:
    buffer.inline_bytes = 100  # two events of these fit, not four
    await send(buffer, [event(2), event(1)])
    assert not (await stored(buffer))[1]
    await send(buffer, [event(4), event(3)])
    raw, tail_key = await stored(buffer)
    assert tail_key and raw[0] == 0x95  # a header alone, naming the latest event
    assert msgspec.msgpack.decode(raw)[2:] == [event(4).ts, event(4).id, 4]
    await send(buffer, [event(5)])  # appended to the tail key
    assert events_of(await drained(buffer)) == [event(n) for n in range(1, 6)]


async def test_a_tailed_entry_of_a_release_up_to_0_2_is_read_and_extended(
    buffer: MergeBuffer,
) -> None:
    buffer.inline_bytes = 0  # every entry tailed, as those releases wrote them
    await send(buffer, [event(1)])
    assert (await stored(buffer))[0][0] == 0x95
    buffer.inline_bytes = INLINE_BYTES
    await send(buffer, [event(2)])
    raw, tail_key = await stored(buffer)
    assert raw[0] == 0x95 and tail_key  # stays tailed
    assert events_of(await drained(buffer)) == [event(1), event(2)]
