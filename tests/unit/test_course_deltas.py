"""Which chapter changes a course rollup follows by delta, and how pairs are split (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from aggregator.course_deltas import ChapterChange, ChapterFigures, moves_by_delta, split_pairs

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(s: int) -> datetime:
    return T0 + timedelta(seconds=s)


def change(key: tuple[str, str, str] = ("u", "c", "ch"), **moved: object) -> ChapterChange:
    old = ChapterFigures(progress=10, time_ms=1000, first_at=at(10), last_at=at(20))
    fields = {"progress": 30.0, "time_ms": 5000, "first_at": at(10), "last_at": at(30)} | moved
    return ChapterChange(key, old, ChapterFigures(**fields))  # type: ignore[arg-type]


def test_a_heartbeat_moves_by_delta() -> None:
    assert moves_by_delta(change())


def test_a_late_heartbeat_that_moves_first_activity_earlier_moves_by_delta() -> None:
    assert moves_by_delta(change(first_at=at(5), last_at=at(20)))


def test_a_new_row_moves_by_delta() -> None:
    assert moves_by_delta(ChapterChange(("u", "c", "ch"), ChapterFigures(),
                                        ChapterFigures(progress=5, first_at=at(1), last_at=at(1))))


def test_a_completion_a_completion_time_or_a_visibility_fact_is_recomputed() -> None:
    assert not moves_by_delta(change(completed=True, completed_at=at(30)))
    done = ChapterFigures(completed=True, completed_at=at(30), first_at=at(1), last_at=at(30))
    later = ChapterFigures(completed=True, completed_at=at(40), first_at=at(1), last_at=at(40))
    assert not moves_by_delta(ChapterChange(("u", "c", "ch"), done, later))
    assert not moves_by_delta(change(has_fact=True))


def test_activity_that_moves_back_is_recomputed() -> None:
    assert not moves_by_delta(change(first_at=at(11)))  # a min that grew
    assert not moves_by_delta(change(last_at=at(19)))  # a max that shrank
    assert not moves_by_delta(change(first_at=None))
    assert not moves_by_delta(change(last_at=None))


def test_pairs_split_by_their_changes_and_the_forced_ones() -> None:
    a1, a2 = change(("a", "c", "ch-1")), change(("a", "c", "ch-2"))
    b = change(("b", "c", "ch-1"), completed=True, completed_at=at(30))
    d = change(("d", "c", "ch-1"))
    delta, full = split_pairs(
        [("a", "c"), ("b", "c"), ("d", "c"), ("e", "c")], [a2, b, d, a1], full=[("d", "c")])
    assert delta == [a1, a2]
    assert full == [("b", "c"), ("d", "c"), ("e", "c")]  # e: no chapter change at all


def test_a_pair_whose_changed_chapters_are_all_new_rows_is_recomputed() -> None:
    first = ChapterChange(("a", "c", "ch-1"), ChapterFigures(),
                          ChapterFigures(progress=5, first_at=at(1), last_at=at(1)))
    again = change(("a", "c", "ch-2"))
    assert split_pairs([("a", "c")], [first], ()) == ([], [("a", "c")])
    assert split_pairs([("a", "c")], [first, again], ()) == ([first, again], [])


figures = st.builds(
    ChapterFigures, st.floats(0, 100), st.integers(0, 10**6),
    st.none() | st.integers(0, 100).map(at), st.none() | st.integers(0, 100).map(at),
    st.booleans(), st.none() | st.integers(0, 100).map(at), st.booleans(),
)


@given(st.lists(st.tuples(st.sampled_from("abc"), figures, figures), max_size=12))
def test_a_pair_goes_by_delta_only_when_every_one_of_its_changes_does(
    drawn: list[tuple[str, ChapterFigures, ChapterFigures]],
) -> None:
    changes = [ChapterChange((u, "c", f"ch-{i}"), o, n) for i, (u, o, n) in enumerate(drawn)]
    pairs = [(u, "c") for u in "abc"]
    delta, full = split_pairs(pairs, changes, ())
    assert sorted({(c.key[0], c.key[1]) for c in delta} | set(full)) == pairs
    for pair in pairs:
        mine = [c for c in changes if c.key[:2] == pair]
        assert (pair in full) == (not mine or all(c.old == ChapterFigures() for c in mine)
                                  or not all(moves_by_delta(c) for c in mine))
