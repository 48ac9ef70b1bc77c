"""The enrollment lifecycle's rules on plain values: history order, active courses, visibility."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aggregator.enrollment_rules import (
    Enrollment,
    chapter_has_fact,
    current_status,
    history,
    is_active,
    is_visible,
)
from buffer.fold import COMPLETING, PROGRESS, UNCOMPLETE, Base, ChapterState, TailEvent, fold

an_enrollment = st.builds(
    Enrollment, ts=st.integers(0, 5), event_id=st.sampled_from("abcdef"),
    status=st.sampled_from(["enrolled", "paused", "dropped"]),
)


def test_history_is_in_event_time_order_with_ties_by_event_id() -> None:
    events = [Enrollment(20, "a", "dropped"), Enrollment(10, "z", "enrolled"),
              Enrollment(20, "b", "enrolled"), Enrollment(10, "y", "paused")]
    assert [e.event_id for e in history(events)] == ["y", "z", "a", "b"]
    assert current_status(events) == "enrolled"


def test_a_duplicate_event_id_is_kept_once() -> None:
    e = Enrollment(5, "a", "enrolled")
    assert history([e, e]) == [e]


def test_no_enrollment_has_no_status() -> None:
    assert current_status([]) is None


@given(st.lists(an_enrollment, unique_by=lambda e: e.event_id).flatmap(
    lambda es: st.tuples(st.just(es), st.permutations(es))))
def test_history_and_status_do_not_depend_on_arrival_order(
    drawn: tuple[list[Enrollment], list[Enrollment]],
) -> None:
    events, shuffled = drawn
    assert history(shuffled) == history(events)
    latest = max(events, key=lambda e: (e.ts, e.event_id), default=None)
    assert current_status(shuffled) == (latest.status if latest else None)


def test_only_a_visible_record_that_is_not_dropped_is_active() -> None:
    assert is_active(True, None) and is_active(True, "enrolled") and is_active(True, "paused")
    assert not is_active(True, "dropped")
    assert not is_active(False, "enrolled")


def _ev(kind: str, ts: int, progress: float = -1.0, time_ms: int = 0) -> TailEvent:
    return TailEvent(ts, f"e{ts}", kind, progress, time_ms, -1.0)


def test_a_chapter_of_uncompletes_only_holds_no_fact() -> None:
    assert not chapter_has_fact(ChapterState(Base(), [_ev(UNCOMPLETE, 1), _ev(UNCOMPLETE, 2)]))
    assert not chapter_has_fact(ChapterState())


def test_any_other_event_is_a_fact_even_with_nothing_to_show() -> None:
    assert chapter_has_fact(ChapterState(Base(), [_ev(UNCOMPLETE, 1), _ev(PROGRESS, 2, 0.0)]))
    assert chapter_has_fact(ChapterState(Base(), [_ev(COMPLETING, 1)]))


def test_a_folded_base_tells_a_fact_from_an_uncomplete() -> None:
    only_u = Base()
    fold(only_u, _ev(UNCOMPLETE, 3))
    assert not chapter_has_fact(ChapterState(only_u, []))
    with_progress = Base()
    for ev in (_ev(PROGRESS, 1, 0.0), _ev(UNCOMPLETE, 3)):
        fold(with_progress, ev)
    assert chapter_has_fact(ChapterState(with_progress, []))
    no_uncomplete = Base()
    fold(no_uncomplete, _ev(PROGRESS, 1, 0.0))
    assert chapter_has_fact(ChapterState(no_uncomplete, []))


def test_a_course_is_visible_once_any_fact_is_not_an_uncomplete() -> None:
    assert not is_visible(False, [False, False])
    assert not is_visible(False, [])
    assert is_visible(False, [False, True])
    assert is_visible(True, [])
