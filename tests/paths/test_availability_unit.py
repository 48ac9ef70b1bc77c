"""Availability as a pure function of catalog rules, progress and time: no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aggregator.availability import (
    Availability,
    ChapterFacts,
    ModuleRules,
    availability,
    newly_available,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def ch(cid: str, completed: bool = False, started: bool = False, required: bool = True
       ) -> ChapterFacts:
    return ChapterFacts(cid, required, completed, started)


def test_a_sequential_module_opens_its_chapters_one_completion_at_a_time() -> None:
    m = ModuleRules("m1", [ch("a", completed=True), ch("b", started=True), ch("c"),
                           ch("opt", required=False)], sequential=True)
    a = availability([m], NOW)
    assert a.chapters["a"] == Availability("completed")
    assert a.chapters["b"] == Availability("in_progress")
    assert a.chapters["c"] == Availability("locked", "sequential")
    assert a.chapters["opt"] == Availability("locked", "sequential")
    assert a.modules["m1"] == Availability("in_progress")
    assert a.next_chapter == "b"


def test_a_prerequisite_module_locks_until_it_is_completed_and_its_chapters_inherit() -> None:
    first = ModuleRules("m1", [ch("a"), ch("opt", required=False)])
    second = ModuleRules("m2", [ch("b", started=True)], prerequisites=["m1"])
    a = availability([first, second], NOW)
    assert a.modules["m2"] == Availability("locked", "prerequisite")
    assert a.chapters["b"] == Availability("locked", "prerequisite")  # progress still counts
    done = ModuleRules("m1", [ch("a", completed=True), ch("opt", required=False)])
    b = availability([done, second], NOW)
    assert b.modules["m1"] == Availability("completed")
    assert b.chapters["b"] == Availability("in_progress")
    assert newly_available(a, b) == [("module", "m2"), ("chapter", "b")]


def test_a_date_lock_comes_first_and_says_when_it_opens() -> None:
    later = NOW + timedelta(days=2)
    m = ModuleRules("m2", [ch("a"), ch("b")], prerequisites=["m1"], sequential=True,
                    unlock_at=later)
    a = availability([ModuleRules("m1", [ch("x")]), m], NOW)
    assert a.modules["m2"] == Availability("locked", "date", later)
    assert a.chapters["b"] == Availability("locked", "date", later)
    assert a.next_chapter == "x"
    opened = availability([ModuleRules("m1", [ch("x", completed=True)]), m], later)
    assert opened.chapters["a"] == Availability("available")
    assert opened.chapters["b"] == Availability("locked", "sequential")
    assert opened.next_chapter == "a"


def test_an_unmet_course_prerequisite_locks_every_module() -> None:
    a = availability([ModuleRules("m1", [ch("a")]), ModuleRules("m2", [])], NOW,
                     course_prerequisites_met=False)
    assert a.modules["m1"] == Availability("locked", "prerequisite")
    assert a.modules["m2"] == Availability("completed")  # no required chapter: completed
    assert a.next_chapter is None


def test_nothing_left_means_no_next_chapter() -> None:
    a = availability([ModuleRules("m1", [ch("a", completed=True)])], NOW)
    assert a.next_chapter is None and a.modules["m1"].state == "completed"
