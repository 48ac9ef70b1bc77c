"""The merge script's tombstone check: an event at or before its learner's erasure is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from buffer.fold import PROGRESS, TailEvent
from buffer.keys import keyid
from buffer.merge_buffer import MergeBuffer, ShardWrite

E = 1_700_000_000_000


@pytest.fixture
async def buffer(redis_url: str) -> AsyncIterator[MergeBuffer]:
    async with Redis.from_url(redis_url) as r:
        await r.flushdb()
        yield MergeBuffer(r, shards=1, merge_window_ms=2000, dedup_window_s=3600, lease_s=30)


def request(events: list[tuple[str, str, int, int]]) -> ShardWrite:
    """(event id, user, seq, ts) each, from one source."""
    w = ShardWrite()
    for i, (eid, user, seq, ts) in enumerate(events):
        n = w.add_event(i, eid, "phone", seq, user, ts)
        w.chapter_op(n, keyid(user, "c", "ch"), False, TailEvent(ts, eid, PROGRESS, 5.0, 0, -1))
    return w


async def test_the_erasure_time_itself_is_refused_and_a_refusal_is_not_remembered(
    buffer: MergeBuffer,
) -> None:
    await buffer.redis.zadd(buffer.key(0, "erased"), {"u": E})
    first = request([("a", "u", 1, E - 1), ("b", "u", 2, E), ("c", "u", 3, E + 1),
                     ("d", "v", 4, E - 1)])
    answer = (await buffer.write({0: first}))[0]
    assert answer.flags == "ee11" and answer.erased == {"u": E}
    assert sorted(await buffer.redis.hkeys(buffer.key(0, "buf"))) == [b"u|c|ch", b"v|c|ch"]
    # the same seqs again: refused again (never seen), the accepted ones are duplicates
    again = (await buffer.write({0: request([("a", "u", 1, E - 1), ("c", "u", 3, E + 1)])}))[0]
    assert again.flags == "e0" and again.erased == {"u": E}
    # without a user, nothing is checked
    w = ShardWrite()
    n = w.add_event(0, "x", None, None)
    w.chapter_op(n, keyid("u", "c", "ch"), False, TailEvent(E - 5, "x", PROGRESS, 5.0, 0, -1))
    assert (await buffer.write({0: w}))[0].flags == "1"
