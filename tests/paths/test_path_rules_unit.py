"""Path progress as a pure function: visible, active course records only; drops. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime

from aggregator.path_rules import CourseFacts, on_path, path_progress
from aggregator.paths import PathCourse, PathDefinition


def at(hour: int) -> datetime:
    return datetime(2026, 11, 30, hour, tzinfo=UTC)


def path(sequential: bool = False) -> PathDefinition:
    return PathDefinition(path_id="p", title="", sequential=sequential, version=1, courses=(
        PathCourse(course_id="a"), PathCourse(course_id="b"),
        PathCourse(course_id="c", required=False)))


DONE = CourseFacts(100.0, "completed", at(1), at(2))
STARTED = CourseFacts(40.0, "in_progress", at(3), None)


def test_a_dropped_course_is_shown_dropped_and_not_completed() -> None:
    dropped = CourseFacts(100.0, "completed", at(0), at(1), enrollment_status="dropped")
    view = path_progress(path(), {"a": dropped, "b": STARTED})
    assert view.percent_complete == 0.0
    assert (view.status, view.current_course_id, view.started_at) == ("in_progress", "a", at(3))
    assert [(c.state, c.percent_complete) for c in view.courses] == [
        ("dropped", 100.0), ("in_progress", 40.0), ("available", 0.0)]
    reenrolled = CourseFacts(100.0, "completed", at(0), at(1), enrollment_status="enrolled")
    assert path_progress(path(), {"a": reenrolled, "b": DONE}).status == "completed"


def test_a_drop_holds_later_courses_of_a_sequential_path() -> None:
    dropped = CourseFacts(30.0, "in_progress", at(0), None, enrollment_status="dropped")
    view = path_progress(path(sequential=True), {"a": dropped, "b": STARTED})
    assert [c.state for c in view.courses] == ["dropped", "locked", "locked"]


def test_an_invisible_record_counts_for_nothing() -> None:
    hidden = CourseFacts(0.0, "not_started", None, None, visible=False)
    assert not on_path({"a": hidden})
    view = path_progress(path(), {"a": hidden, "b": DONE})
    assert view.percent_complete == 50.0
    assert [c.state for c in view.courses] == ["available", "completed", "available"]


def test_only_an_active_record_puts_a_learner_on_a_path() -> None:
    dropped = CourseFacts(0.0, "in_progress", at(0), None, enrollment_status="dropped")
    assert not on_path({})
    assert not on_path({"a": dropped})
    assert on_path({"a": dropped, "c": STARTED})
    assert on_path({"b": CourseFacts(0.0, "not_started", None, None, enrollment_status="paused")})
    alone = path_progress(path(), {"a": dropped})  # what a learner who left is stored as
    assert (alone.percent_complete, alone.status, alone.started_at) == (0.0, "not_started", None)
