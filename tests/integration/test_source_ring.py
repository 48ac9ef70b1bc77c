"""Dedup by (source_id, seq) in the merge script agrees with its definition, for any seq pattern.

A seq is new when it is above the source's highest seq so far, or within the last
``SOURCE_RING`` seqs below it and not seen yet; anything older counts as a duplicate. The script
keeps this as a bitmap ring per (source, shard); the test drives it with gaps of every size
(sequences split over shards leave gaps of a few; app reinstalls or long offline spells, gaps
past the ring), replays of recent and old seqs, and requests of any size.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from buffer.entries import CourseChange
from buffer.merge_buffer import SOURCE_RING, MergeBuffer, ShardWrite


def definition(seqs: list[int]) -> list[bool]:
    seen: set[int] = set()
    top = 0
    out = []
    for q in seqs:
        new = q > top or (q > top - SOURCE_RING and q not in seen)
        out.append(new)
        if new:
            seen.add(q)
            top = max(top, q)
    return out


def a_seq_pattern(rnd: random.Random, n: int) -> list[int]:
    seqs: list[int] = []
    q = rnd.randint(1, 5)
    for _ in range(n):
        roll = rnd.random()
        if roll < 0.6:
            q += rnd.randint(1, 20)
            seqs.append(q)
        elif roll < 0.63:
            q += rnd.randint(SOURCE_RING - 10, SOURCE_RING * 3)
            seqs.append(q)
        elif seqs and roll < 0.85:
            seqs.append(max(1, q - rnd.randint(0, 60)))  # recent: a retry or a late send
        else:
            seqs.append(max(1, q - rnd.randint(SOURCE_RING - 40, SOURCE_RING + 40)))
    return seqs


@pytest.fixture
async def buffer(redis_url: str) -> AsyncIterator[MergeBuffer]:
    async with Redis.from_url(redis_url) as r:
        await r.flushdb()
        yield MergeBuffer(r, shards=1, merge_window_ms=2000, dedup_window_s=3600, lease_s=30)


@pytest.mark.parametrize("seed", range(6))
async def test_seq_dedup_matches_its_definition(buffer: MergeBuffer, seed: int) -> None:
    rnd = random.Random(seed)
    seqs = a_seq_pattern(rnd, 1500)
    got: list[bool] = []
    i = 0
    while i < len(seqs):
        part = seqs[i:i + rnd.randint(1, 120)]
        i += len(part)
        w = ShardWrite()
        for q in part:
            n = w.add_event(len(got), f"e-{seed}-{len(got)}-{q}", "phone-1", q)
            w.course_op(n, "u|c", False, CourseChange("V", 1_700_000_000_000 + q, f"e-{q}", ""))
        flags = (await buffer.write({0: w}))[0].flags
        got += [f == "1" for f in flags]
    assert got == definition(seqs)
