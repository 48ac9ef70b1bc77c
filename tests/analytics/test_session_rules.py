"""Sessions kept incrementally equal sessions cut from the whole history, whatever the order."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from aggregator.session_rules import Activity, Session, absorb, changes, window

GAP = 1_800_000


Cut = tuple[int, int, int, int, frozenset[str], frozenset[tuple[str, str]]]


def cut(activity: list[Activity], gap: int) -> list[Cut]:
    """Reference: sort every event, cut where the gap exceeds ``gap``."""
    runs: list[list[Activity]] = []
    for a in sorted(activity, key=lambda a: a.ts):
        if runs and a.ts - runs[-1][-1].ts <= gap:
            runs[-1].append(a)
        else:
            runs.append([a])
    return [(r[0].ts, r[-1].ts, len(r), sum(a.time_ms for a in r),
             frozenset(a.course_id for a in r),
             frozenset((a.course_id, a.chapter_id) for a in r if a.chapter_id)) for r in runs]


def incremental(batches: list[list[Activity]], gap: int) -> list[Session]:
    """What the apply step does: per batch, only the neighbours within the batch's window."""
    stored: list[Session] = []
    for batch in batches:
        span = window(batch, gap)
        assert span is not None
        lo, hi = span
        near = [s for s in stored if s.ended_ms >= lo and s.started_ms <= hi]
        delete, write = changes(near, absorb(near, batch, gap))
        stored = sorted([s for s in stored if s not in delete] + write,
                        key=lambda s: s.started_ms)
    return stored


def a(ts: int, time_ms: int = 1000, course: str = "c-1", chapter: str = "ch-1") -> Activity:
    return Activity(ts, time_ms, course, chapter)


def test_a_gap_equal_to_the_setting_stays_in_one_session() -> None:
    out = absorb([], [a(0), a(GAP)], GAP)
    assert [(s.started_ms, s.ended_ms, s.events) for s in out] == [(0, GAP, 2)]


def test_a_gap_one_millisecond_longer_starts_a_new_session() -> None:
    out = absorb([], [a(0), a(GAP + 1)], GAP)
    assert [(s.started_ms, s.events) for s in out] == [(0, 1), (GAP + 1, 1)]


def test_a_late_event_bridges_two_sessions_into_one() -> None:
    first = absorb([], [a(0), a(GAP + 600_000, course="c-2", chapter="x")], GAP)
    assert len(first) == 2
    bridged = absorb(first, [a(GAP // 2 + 300_000, time_ms=5000)], GAP)
    assert len(bridged) == 1
    s = bridged[0]
    assert (s.started_ms, s.ended_ms, s.events, s.time_ms) == (0, GAP + 600_000, 3, 7000)
    assert s.courses == {"c-1", "c-2"} and s.chapters == {("c-1", "ch-1"), ("c-2", "x")}


def test_a_late_event_before_a_session_extends_its_start() -> None:
    out = absorb(absorb([], [a(10 * GAP)], GAP), [a(9 * GAP)], GAP)
    assert [(s.started_ms, s.ended_ms, s.events) for s in out] == [(9 * GAP, 10 * GAP, 2)]


def test_a_course_level_event_touches_its_course_but_no_chapter() -> None:
    (s,) = absorb([], [Activity(5, 0, "c-9")], GAP)
    assert s.courses == {"c-9"} and s.chapters == frozenset()


def test_changes_leave_an_untouched_session_alone() -> None:
    old = absorb([], [a(0), a(10 * GAP)], GAP)
    delete, write = changes(old, absorb(old, [a(10 * GAP + 5)], GAP))
    assert [s.started_ms for s in delete] == [10 * GAP]
    assert [(s.started_ms, s.events) for s in write] == [(10 * GAP, 2)]


@given(
    times=st.lists(st.integers(0, 40 * GAP // 10).map(lambda x: x * 10), min_size=1,
                   max_size=60),
    cuts=st.lists(st.integers(0, 60), max_size=8),
    gap=st.sampled_from([GAP, 60_000, 1]),
    data=st.data(),
)
def test_incremental_sessions_equal_the_reference_in_any_order_and_batching(
    times: list[int], cuts: list[int], gap: int, data: st.DataObject
) -> None:
    places = data.draw(st.lists(st.tuples(st.sampled_from(["c-1", "c-2", "c-3"]),
                                          st.sampled_from(["", "ch-1", "ch-2"])),
                                min_size=len(times), max_size=len(times)))
    activity = [a(t, time_ms=i, course=c, chapter=ch)
                for i, (t, (c, ch)) in enumerate(zip(times, places, strict=True))]
    order = data.draw(st.permutations(activity))
    bounds = sorted({0, len(order), *(c for c in cuts if c < len(order))})
    batches = [order[i:j] for i, j in itertools.pairwise(bounds) if j > i]
    got = [(s.started_ms, s.ended_ms, s.events, s.time_ms, s.courses, s.chapters)
           for s in incremental(batches, gap)]
    assert got == cut(activity, gap)
