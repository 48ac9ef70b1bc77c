"""``merge.lua`` on a real Redis and the Python fold agree, entry for entry.

Hypothesis draws chapter histories (ties on ``ts``, uncompletes, views, far more events than the
tail holds), sends them as requests in any order with duplicates, each with its own inline
limit (so entries are written inline, tailed, and moved from one layout to the other), drains at
random moments, and compares every drained entry with :func:`buffer.fold.buffer_add` applied to
the same events, field by field: the base, the tail and (for a tailed entry) the header. Course
entries are compared with :func:`buffer.entries.add_course_change` (state, and every enrollment
and reset in order). Four more tests break one side on purpose and check that the comparison
notices.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from importlib import resources
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from buffer import fold
from buffer.entries import (
    ChapterHeader,
    CourseChange,
    CourseEntry,
    DrainedChapter,
    add_course_change,
    decode_chapter,
    decode_course,
)
from buffer.fold import (
    COMPLETING,
    PROGRESS,
    UNCOMPLETE,
    VIEWED,
    ChapterState,
    CourseState,
    TailEvent,
    buffer_add,
)
from buffer.keys import keyid, split_keyid
from buffer.merge_buffer import MergeBuffer, ShardWrite

T0 = 1_700_000_000_000
CAP = 40
"""A small buffer cap, so that histories overflow it and the script folds."""
CHAPTER_KEYS = [keyid("u-1", "c-1", "ch-1"), keyid("u-1", "c-1", "ch-2")]
COURSE_KEY = keyid("u-1", "c-1")

Item = tuple[str, TailEvent | CourseChange]
"""(keyid, what the request carries for it)."""


def a_chapter_event(n: int) -> st.SearchStrategy[Item]:
    return st.builds(
        lambda key, ts, kind, p, t, pos: (key, TailEvent(T0 + ts * 250, f"e{n:03d}", kind,
                                                         p if kind in (PROGRESS, COMPLETING)
                                                         else -1.0,
                                                         0 if kind == VIEWED else t,
                                                         -1.0 if kind == VIEWED else pos)),
        st.sampled_from(CHAPTER_KEYS),
        st.integers(0, 60),
        st.sampled_from([PROGRESS] * 6 + [COMPLETING, UNCOMPLETE] * 2 + [VIEWED]),
        st.sampled_from([0.0, 10.0, 25.5, 50.0, 99.0, 100.0]),
        st.sampled_from([0, 1500, 10_000]),
        st.sampled_from([-1.0, 0.0, 12.5, 300.0]),
    )


def a_course_event(n: int) -> st.SearchStrategy[Item]:
    return st.builds(
        lambda kind, ts, extra: (COURSE_KEY, CourseChange(kind, T0 + ts * 250, f"e{n:03d}",
                                                          extra if kind != "R" else "")),
        st.sampled_from(["R", "E", "V"]),
        st.integers(0, 60),
        st.sampled_from(["enrolled", "paused", "ch-1", "ch-2"]),
    )


class FoldModel:
    """The Python side: what each key's entry should hold since it was last drained."""

    def __init__(self) -> None:
        self.chapters: dict[str, ChapterState] = {}
        self.courses: dict[str, CourseEntry] = {}
        self.seen: set[str] = set()

    def add(self, key: str, item: TailEvent | CourseChange) -> None:
        event_id = item.id if isinstance(item, TailEvent) else item.event_id
        if event_id in self.seen:
            return  # a duplicate: the buffer drops it before any fold
        self.seen.add(event_id)
        if isinstance(item, TailEvent):
            buffer_add(self.chapters.setdefault(key, ChapterState()), item, cap=CAP)
        else:
            add_course_change(self.courses.setdefault(key, CourseEntry(CourseState(), [])), item)

    def take(self) -> tuple[dict[str, ChapterState], dict[str, CourseEntry]]:
        out = self.chapters, self.courses
        self.chapters, self.courses = {}, {}
        return out


async def send(buffer: MergeBuffer, request: list[Item]) -> None:
    w = ShardWrite()
    for i, (key, item) in enumerate(request):
        event_id = item.id if isinstance(item, TailEvent) else item.event_id
        n = w.add_event(i, event_id, None, None)
        if isinstance(item, TailEvent):
            w.chapter_op(n, key, item.kind != PROGRESS, item)
        else:
            w.course_op(n, key, True, item)
    await buffer.write({0: w})


async def drain_and_compare(buffer: MergeBuffer, model: FoldModel) -> list[str]:
    """Drain every entry and list how each differs from the model's."""
    chapters, courses = model.take()
    got_chapters: dict[str, tuple[ChapterState, ChapterHeader | None]] = {}
    got_courses: dict[str, tuple[CourseState, list[Any], list[Any], int]] = {}
    while (batch := await buffer.drain(0, 1000)) is not None:
        for key, raw in batch.entries:
            if split_keyid(key)[2]:
                state, _ = decode_chapter(raw)
                got_chapters[key] = (state, _header(raw))
            else:
                entry = decode_course(raw)
                got_courses[key] = (entry.state, entry.enrollments, entry.resets, entry.layout)
        await buffer.ack(batch)
    diffs = []
    for key in sorted(set(chapters) | set(got_chapters)):
        want = chapters.get(key)
        got = got_chapters.get(key)
        if want is None or got is None:
            diffs.append(f"{key}: only on one side")
            continue
        state, header = got
        if state != want:
            diffs.append(f"{key}: script {state!r} != fold {want!r}")
        last = max(want.tail, key=lambda e: (e.ts, e.id)) if want.tail else None
        if header and (header.n != len(want.tail) or (last and (header.last_ts, header.last_id)
                                                      != (last.ts, last.id))):
            diffs.append(f"{key}: header {header!r} does not describe the tail")
    for key in sorted(set(courses) | set(got_courses)):
        c = courses.get(key)
        want_course = (c.state, c.enrollments, c.resets, c.layout) if c else None
        if want_course != got_courses.get(key):
            diffs.append(f"{key}: script {got_courses.get(key)!r} != fold {want_course!r}")
    return diffs


def _header(raw: bytes) -> ChapterHeader | None:
    """A tailed entry's header; an inline entry has none."""
    if raw[0] == 0x93:
        return None
    return msgspec.msgpack.decode(raw, type=DrainedChapter).header


INLINE_LIMITS = [0, 70, 512]
"""0: every entry tailed (the layout of releases up to 0.2); 70: one event fits, a second moves
the entry; 512: the default."""


def requests_of(data: st.DataObject) -> Iterator[tuple[list[Item], bool, int]]:
    """Requests (with duplicates, in any order), whether to drain after each, and the inline
    limit of the HTTP server that sends it."""
    n = data.draw(st.integers(1, 2 * CAP + 40), label="events")
    items = [data.draw(a_chapter_event(i) if data.draw(st.integers(0, 9)) else a_course_event(i))
             for i in range(n)]
    stream = list(data.draw(st.permutations(items)))
    for item in data.draw(st.lists(st.sampled_from(items), max_size=10), label="resends"):
        stream.insert(data.draw(st.integers(0, len(stream))), item)
    i = 0
    while i < len(stream):
        size = data.draw(st.integers(1, 12))
        yield stream[i:i + size], data.draw(st.integers(0, 7)) == 0, data.draw(
            st.sampled_from(INLINE_LIMITS))
        i += size


@pytest.fixture
async def buffer(redis_url: str) -> AsyncIterator[MergeBuffer]:
    redis = Redis.from_url(redis_url)
    yield MergeBuffer(redis, shards=1, merge_window_ms=0, dedup_window_s=3600, lease_s=30,
                      tail_cap=CAP)
    await redis.aclose()


async def first_differences(buffer: MergeBuffer, data: st.DataObject) -> list[str]:
    await buffer.redis.flushall()
    model = FoldModel()
    for request, drain, inline_bytes in requests_of(data):
        buffer.inline_bytes = inline_bytes
        await send(buffer, request)
        for key, item in request:
            model.add(key, item)
        if drain and (diffs := await drain_and_compare(buffer, model)):
            return diffs
    return await drain_and_compare(buffer, model)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_the_script_and_the_python_fold_hold_the_same_entries(
    data: st.DataObject, buffer: MergeBuffer
) -> None:
    assert await first_differences(buffer, data) == []


def _long_history() -> list[Item]:
    """Four tails' worth of completions around one uncomplete, in a shuffled order."""
    items: list[Item] = [
        (CHAPTER_KEYS[0], TailEvent(T0 + i * 1000, f"e{i:03d}",
                                    UNCOMPLETE if i == 20 else COMPLETING, -1.0, 1000, float(i)))
        for i in range(2 * CAP)
    ]
    random.Random(7).shuffle(items)
    return items


LONG_HISTORY = _long_history()


async def fixed_history_differences(buffer: MergeBuffer) -> list[str]:
    await buffer.redis.flushall()
    model = FoldModel()
    for start in range(0, len(LONG_HISTORY), 5):
        request = LONG_HISTORY[start:start + 5]
        await send(buffer, request)
        for key, item in request:
            model.add(key, item)
    return await drain_and_compare(buffer, model)


def break_script(buffer: MergeBuffer, line: str, replacement: str) -> None:
    """Make ``buffer`` run ``merge.lua`` with ``line`` replaced."""
    source = resources.files("buffer").joinpath("lua", "merge.lua").read_text()
    broken = source.replace(line, replacement)
    assert broken != source
    buffer._merge = buffer.redis.register_script(broken)


async def test_a_script_with_a_broken_fold_is_caught(buffer: MergeBuffer) -> None:
    assert await fixed_history_differences(buffer) == []
    break_script(buffer, "if b[8] == -1 or ts < b[8] then b[8] = ts end",
                 "if b[8] == -1 or ts > b[8] then b[8] = ts end")
    assert await fixed_history_differences(buffer) != []


async def test_a_script_that_loses_inline_events_when_it_moves_them_is_caught(
    buffer: MergeBuffer,
) -> None:
    buffer.inline_bytes = 300  # the long history's entry outgrows it after a few requests
    assert await fixed_history_differences(buffer) == []
    break_script(buffer, "redis.call('SET', entry.tkey, evs)",
                 "redis.call('SET', entry.tkey, table.concat(entry.add))")
    assert await fixed_history_differences(buffer) != []


async def test_a_broken_python_fold_is_caught(
    buffer: MergeBuffer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = fold.fold

    def broken(base: fold.Base, ev: TailEvent) -> None:
        real(base, ev)
        base.time_ms += 1

    monkeypatch.setattr(fold, "fold", broken)
    assert await fixed_history_differences(buffer) != []


def test_a_drained_chapter_of_the_previous_layout_still_decodes() -> None:
    """Batches in flight or dead-lettered across an upgrade are flat ``[header, *events]``."""
    ev = TailEvent(T0, "e1", PROGRESS, 40.0, 1000, 3.0)
    base: list[Any] = []
    header = msgspec.msgpack.encode([base, T0 - 5, ev.ts, ev.id, 1])
    raw = b"\xdd" + (2).to_bytes(4, "big") + header + msgspec.msgpack.encode(ev)  # as drained
    state, accepted = decode_chapter(raw)
    assert state == ChapterState(fold.Base(), [ev]) and accepted == T0 - 5


RESETS: list[Item] = [(COURSE_KEY, CourseChange("R", T0 + i * 1000, f"r{i:02d}", ""))
                      for i in (3, 1, 2, 1)]
"""Resets out of ts order, one resent."""


async def reset_differences(buffer: MergeBuffer) -> list[str]:
    await buffer.redis.flushall()
    model = FoldModel()
    for item in RESETS:
        await send(buffer, [item])
        model.add(*item)
    return await drain_and_compare(buffer, model)


async def test_a_script_that_loses_a_reset_from_the_list_is_caught(buffer: MergeBuffer) -> None:
    assert await reset_differences(buffer) == []
    break_script(buffer, "entry[5][#entry[5] + 1] = {id, ts}",
                 "if after(ts, id, s[1], s[2]) then entry[5][1] = {id, ts} end")
    assert await reset_differences(buffer) != []


async def test_a_course_entry_of_the_previous_layout_decodes_and_takes_resets(
    buffer: MergeBuffer,
) -> None:
    """An entry written before the enrollment and reset lists: ``[state, attempts]``."""
    await buffer.redis.flushall()
    old = msgspec.msgpack.encode([CourseState(seen_ts=T0), []])
    assert decode_course(old).resets == [] and decode_course(old).enrollments == []
    await buffer.redis.hset(buffer.key(0, "buf"), COURSE_KEY, old)
    await send(buffer, [RESETS[0]])
    raw = await buffer.redis.hget(buffer.key(0, "buf"), COURSE_KEY)
    entry = decode_course(raw)
    assert entry.resets == [("r03", T0 + 3000)] and entry.state.reset_id == "r03"
    assert entry.accepted_ms is not None
    assert raw[0] == 0x96  # 6 fields: an older drain.lua takes a 5-array for a chapter header


async def test_a_course_entry_without_resets_keeps_the_previous_layout(
    buffer: MergeBuffer,
) -> None:
    await buffer.redis.flushall()
    await send(buffer, [(COURSE_KEY, CourseChange("E", T0, "e1", "enrolled"))])
    raw = await buffer.redis.hget(buffer.key(0, "buf"), COURSE_KEY)
    assert raw[0] == 0x94 and decode_course(raw).enrollments == [("e1", T0, "enrolled")]
