"""The merge model on its own: folding, merging, resets (no I/O)."""

from __future__ import annotations

import random

import msgspec

from buffer.fold import (
    COMPLETING,
    PROGRESS,
    TAIL_LIMIT,
    UNCOMPLETE,
    ChapterState,
    TailEvent,
    merge_chapter,
    summarize_chapter,
    trim_chapter,
)


def ev(ts: int, kind: str = PROGRESS, p: float = 10.0, time_ms: int = 1000,
       pos: float = -1.0) -> TailEvent:
    return TailEvent(ts, f"e{ts:06d}", kind, p, time_ms, pos)


def state_of(*events: TailEvent) -> ChapterState:
    out = ChapterState()
    for e in events:
        out = merge_chapter(out, ChapterState(tail=[e]))
    return out


def test_a_long_in_order_history_folds_exactly() -> None:
    events = [ev(t, p=float(t % 90), pos=float(t)) for t in range(1, 200)]
    s = summarize_chapter(state_of(*events))
    assert len(state_of(*events).tail) == TAIL_LIMIT
    assert (s.progress, s.time_ms, s.position_s) == (89.0, 199_000, 199.0)
    assert (s.first_ts, s.last_ts, s.completed) == (1, 199, False)


def test_merging_is_independent_of_grouping_and_order() -> None:
    events = [ev(t, kind=random.Random(t).choice([PROGRESS, COMPLETING, UNCOMPLETE]),
                 p=float(t % 100)) for t in range(1, 15)]
    expected = summarize_chapter(state_of(*events))
    for seed in range(20):
        shuffled = events[:]
        random.Random(seed).shuffle(shuffled)
        half = len(shuffled) // 2
        merged = merge_chapter(state_of(*shuffled[:half]), state_of(*shuffled[half:]))
        assert summarize_chapter(merged) == expected


def test_an_uncomplete_keeps_only_later_progress() -> None:
    s = summarize_chapter(state_of(ev(1, p=90), ev(2, COMPLETING), ev(3, UNCOMPLETE), ev(4, p=20)))
    assert (s.completed, s.progress, s.completed_at) == (False, 20.0, None)
    s = summarize_chapter(state_of(ev(1, UNCOMPLETE), ev(2, COMPLETING), ev(3, COMPLETING)))
    assert (s.completed, s.completed_at, s.progress) == (True, 2, 100.0)


def test_a_reset_drops_what_came_at_or_before_it() -> None:
    st = state_of(ev(1, COMPLETING, time_ms=5000), ev(5, p=30, time_ms=2000, pos=7.0))
    s = summarize_chapter(trim_chapter(st, 1))
    assert (s.completed, s.progress, s.time_ms, s.first_ts, s.position_s) == (
        False, 30.0, 2000, 5, 7.0)
    assert summarize_chapter(trim_chapter(st, 5)).first_ts is None


def test_the_state_survives_its_stored_form() -> None:
    st = state_of(*[ev(t) for t in range(1, 40)])
    assert not st.base.empty
    raw = msgspec.msgpack.encode(st)
    assert msgspec.msgpack.decode(raw, type=ChapterState) == st


def test_a_state_stored_with_an_empty_base_array_still_decodes() -> None:
    """Rows written before the states were Structs hold ``[]`` for an empty base."""
    raw = msgspec.msgpack.encode([[], [[5, "e5", PROGRESS, 30.0, 2000, 7.0]]])
    st = msgspec.msgpack.decode(raw, type=ChapterState)
    assert st.base.empty and st.tail == [TailEvent(5, "e5", PROGRESS, 30.0, 2000, 7.0)]
