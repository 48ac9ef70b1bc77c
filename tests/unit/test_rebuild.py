"""Recomputing a chapter from its logged events, and when the merge must ask for it (no I/O)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from buffer.fold import (
    COMPLETING,
    NONE_TS,
    PROGRESS,
    TAIL_LIMIT,
    UNCOMPLETE,
    ChapterState,
    TailEvent,
    merge_chapter,
    needs_rebuild,
    rebuild_chapter,
    summarize_chapter,
    trim_chapter,
)
from tests.reference import RefChapter, chapter_state

TYPES = {PROGRESS: "chapter_progress", COMPLETING: "chapter_completed",
         UNCOMPLETE: "chapter_uncompleted"}


def as_event(e: TailEvent) -> dict[str, Any]:
    """The wire event a tail event stands for, for the reference model."""
    ev: dict[str, Any] = {"id": e.id, "type": TYPES[e.kind], "user_id": "u", "course_id": "c",
                          "chapter_id": "ch", "ts": e.ts}
    if e.kind == PROGRESS:
        ev["progress"] = e.progress
    if e.kind != UNCOMPLETE:
        ev["time_spent_s"] = e.time_ms / 1000
    if e.position_s >= 0:
        ev["position_s"] = e.position_s
    return ev


def reference(events: list[TailEvent], reset_ts: int) -> RefChapter:
    wire = [as_event(e) for e in events]
    if reset_ts != NONE_TS:
        wire.append({"id": "reset", "type": "course_reset", "user_id": "u", "course_id": "c",
                     "ts": reset_ts})
    return chapter_state(wire, "u", "c", "ch")


def summary_of(state: ChapterState) -> RefChapter:
    s = summarize_chapter(state)
    return RefChapter(s.progress, s.completed, s.completed_at, s.position_s, s.time_ms,
                      s.first_ts, s.last_ts)


@st.composite
def histories(draw: st.DrawFn) -> list[TailEvent]:
    n = draw(st.integers(0, 4 * TAIL_LIMIT))
    out = []
    for i in range(n):
        kind = draw(st.sampled_from([PROGRESS] * 5 + [COMPLETING, UNCOMPLETE]))
        out.append(TailEvent(
            draw(st.integers(0, 40)) * 100, f"e{i:03d}", kind,
            draw(st.sampled_from([0.0, 20.0, 55.5, 99.0])) if kind == PROGRESS else -1.0,
            0 if kind == UNCOMPLETE else draw(st.sampled_from([0, 500, 3000])),
            draw(st.sampled_from([-1.0, 4.0, 90.0])) if kind == PROGRESS else -1.0,
        ))
    return out


@given(events=histories(), reset=st.sampled_from([NONE_TS, 0, 1050, 2000, 3999]),
       order=st.randoms(use_true_random=False))
def test_a_rebuilt_chapter_equals_the_reference_in_any_order(
    events: list[TailEvent], reset: int, order: Any
) -> None:
    shuffled = list(events)
    order.shuffle(shuffled)
    assert summary_of(rebuild_chapter(shuffled + shuffled[:3], reset)) == reference(events, reset)


@given(events=histories(), split=st.integers(0, 4 * TAIL_LIMIT),
       reset=st.sampled_from([NONE_TS, 0, 1050, 2000, 3999]))
def test_where_no_rebuild_is_asked_for_the_merge_is_already_exact(
    events: list[TailEvent], split: int, reset: int
) -> None:
    """The fast path, exactly as the apply step takes it, whenever ``needs_rebuild`` says no."""
    older = rebuild_chapter(events[:split])  # what is stored: folded past the tail
    newer = trim_chapter(ChapterState(tail=events[split:]), reset)
    if needs_rebuild(older, newer, reset):
        return
    merged = merge_chapter(trim_chapter(older, reset), newer)
    assert summary_of(merged) == reference(events, reset)


def test_a_reset_among_folded_events_asks_for_a_rebuild() -> None:
    stored = rebuild_chapter([TailEvent(t, f"e{t:03d}", PROGRESS, 10.0, 1000, -1.0)
                              for t in range(1, 3 * TAIL_LIMIT)])
    assert not stored.base.empty
    assert needs_rebuild(stored, None, stored.base.first_ts)
    assert not needs_rebuild(stored, None, stored.base.upto_ts)  # the whole base goes
    assert not needs_rebuild(stored, None, stored.base.first_ts - 1)  # the whole base stays


def test_an_old_uncomplete_asks_for_a_rebuild_and_old_progress_does_not() -> None:
    stored = rebuild_chapter([TailEvent(t, f"e{t:03d}", PROGRESS, 10.0, 1000, -1.0)
                              for t in range(1, 3 * TAIL_LIMIT)])
    old = stored.base.upto_ts - 1
    late_u = ChapterState(tail=[TailEvent(old, "late", UNCOMPLETE, -1.0, 0, -1.0)])
    late_p = ChapterState(tail=[TailEvent(old, "late", PROGRESS, 90.0, 1000, -1.0)])
    assert needs_rebuild(stored, late_u, NONE_TS)
    assert not needs_rebuild(stored, late_p, NONE_TS)
