"""A course ever completed over every reset epoch: the pure rule, without I/O."""

from __future__ import annotations

from aggregator.achievement_rules import Moment
from aggregator.catalog_rules import ChapterRule
from aggregator.course_epochs import chapter_facts, completed_moment, epoch_of
from buffer.fold import COMPLETING, PROGRESS, UNCOMPLETE, TailEvent

REQUIRED = {"a", "b"}


def test_an_event_at_a_resets_time_belongs_to_the_epoch_the_reset_ends() -> None:
    assert [epoch_of(ts, [10, 20]) for ts in (5, 10, 11, 20, 21)] == [0, 0, 1, 1, 2]


def test_completions_in_one_epoch_count_at_the_later_of_their_first_facts() -> None:
    facts = {"a": [Moment(3, "x"), Moment(1, "w")], "b": [Moment(2, "y")]}
    assert completed_moment(REQUIRED, facts, []) == Moment(2, "y")


def test_a_reset_between_two_completions_splits_them() -> None:
    facts = {"a": [Moment(1, "x")], "b": [Moment(5, "y")]}
    assert completed_moment(REQUIRED, facts, [3]) is None
    assert completed_moment(REQUIRED, facts, [0, 7]) == Moment(5, "y")


def test_an_earlier_epoch_completed_wins_over_a_later_one() -> None:
    facts = {"a": [Moment(1, "x"), Moment(8, "z")], "b": [Moment(2, "y"), Moment(9, "v")]}
    assert completed_moment(REQUIRED, facts, [5]) == Moment(2, "y")
    assert completed_moment(REQUIRED, {"a": [Moment(1, "x"), Moment(8, "z")],
                                       "b": [Moment(9, "v")]}, [5]) == Moment(9, "v")


def test_a_course_without_required_chapters_or_facts_is_never_completed() -> None:
    assert completed_moment(set(), {"a": [Moment(1)]}, []) is None
    assert completed_moment(REQUIRED, {"a": [Moment(1)]}, []) is None


def test_facts_are_decided_under_the_rule_and_uncompletes_do_not_withdraw_them() -> None:
    evs = [TailEvent(1, "p", PROGRESS, 80.0, 0, -1.0), TailEvent(2, "u", UNCOMPLETE, -1.0, 0, -1.0),
           TailEvent(3, "c", COMPLETING, -1.0, 0, -1.0)]
    assert chapter_facts(evs, ChapterRule("complete", 75.0), []) == [Moment(1, "p"), Moment(3, "c")]
    assert chapter_facts(evs, ChapterRule("complete", 100.0), []) == [Moment(3, "c")]


def test_min_time_sums_each_epoch_from_its_start() -> None:
    evs = [TailEvent(ts, f"e{ts}", PROGRESS, 10.0, 600, -1.0) for ts in (1, 2, 4, 6)]
    rule = ChapterRule("min_time", 1000.0)
    assert chapter_facts(evs, rule, []) == [Moment(2, "e2"), Moment(4, "e4"), Moment(6, "e6")]
    assert chapter_facts(evs, rule, [3]) == [Moment(2, "e2"), Moment(6, "e6")]
