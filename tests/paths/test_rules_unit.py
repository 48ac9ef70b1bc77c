"""Requirements, prerequisites and dates as pure functions: no I/O."""

from __future__ import annotations

import pytest

from aggregator.catalog_rules import (
    ChapterRule,
    RequirementSpec,
    RulesError,
    chapter_rule,
    check_prerequisites,
    check_requirement,
    find_cycle,
    parse_unlock_at,
)
from aggregator.requirements import decide
from buffer.fold import (
    COMPLETING,
    PROGRESS,
    UNCOMPLETE,
    VIEWED,
    TailEvent,
    rebuild_chapter,
    summarize_chapter,
)


def ev(ts: int, kind: str = PROGRESS, progress: float = 10, time_ms: int = 0) -> TailEvent:
    return TailEvent(ts, f"e{ts:03d}", kind, progress, time_ms, -1.0)


def completed_at(events: list[TailEvent], rule: ChapterRule) -> int | None:
    s = summarize_chapter(rebuild_chapter(decide(events, rule)))
    return s.completed_at if s.completed else None


def test_a_lowered_threshold_completes_a_chapter_its_stored_progress_reaches() -> None:
    events = [ev(1, progress=60), ev(2, progress=85)]
    assert completed_at(events, ChapterRule("complete", 100)) is None
    assert completed_at(events, ChapterRule("complete", 80)) == 2
    raised = [ev(1, COMPLETING, progress=85)]  # decided completing at ingest under 80
    assert completed_at(raised, ChapterRule("complete", 90)) is None


def test_chapter_completed_completes_under_any_threshold() -> None:
    assert completed_at([ev(5, COMPLETING, progress=-1)], ChapterRule("complete", 100)) == 5


def test_view_is_completed_by_any_event_after_the_last_uncomplete() -> None:
    rule = ChapterRule("view", 0)
    assert completed_at([ev(1, progress=0)], rule) == 1
    assert completed_at([ev(1), ev(2, UNCOMPLETE, -1)], rule) is None
    assert completed_at([ev(1), ev(2, UNCOMPLETE, -1), ev(3), ev(4)], rule) == 3


def test_min_time_completes_at_the_event_whose_running_sum_reaches_it() -> None:
    rule = ChapterRule("min_time", 60_000)
    events = [ev(3, time_ms=30_000), ev(1, time_ms=20_000), ev(2, time_ms=5_000)]
    assert completed_at(events, rule) is None
    assert completed_at([*events, ev(4, time_ms=5_000)], rule) == 4
    assert completed_at([*events, ev(4, time_ms=5_000), ev(4, time_ms=5_000)], rule) == 4
    assert completed_at([ev(1, COMPLETING, -1)], rule) is None  # a completion is not time


def test_min_score_takes_no_chapter_event_as_completing() -> None:
    assert completed_at([ev(1, COMPLETING, -1), ev(2, progress=100)],
                        ChapterRule("min_score", 80, "q-1")) is None


def test_requirements_are_checked_with_the_field_named() -> None:
    check_requirement("chapters['a']", "view", [])
    check_requirement("chapters['a']", RequirementSpec(min_score=80, quiz_id="q"), ["q"])
    bad = [("watch", "unknown kind"), (RequirementSpec(min_score=120, quiz_id="q"), "0-100"),
           (RequirementSpec(min_score=50, quiz_id="zz"), "not a quiz"),
           (RequirementSpec(min_time_s=-1), "min_time_s"), (RequirementSpec(), "quiz_id")]
    for req, words in bad:
        with pytest.raises(RulesError, match=words):
            check_requirement("chapters['a']", req, ["q"])
    assert chapter_rule(RequirementSpec(min_time_s=1.5), 100) == ChapterRule("min_time", 1500)
    assert chapter_rule(None, 80) == ChapterRule("complete", 80)


def test_unknown_self_and_cyclic_prerequisites_are_refused() -> None:
    check_prerequisites("modules", {"a": [], "b": ["a"], "c": ["a", "b"]}, "abc")
    for graph, words in [({"a": ["a"]}, "itself"), ({"a": ["x"]}, "unknown id 'x'"),
                         ({"a": ["c"], "b": ["a"], "c": ["b"]}, "cycle")]:
        with pytest.raises(RulesError, match=words):
            check_prerequisites("modules", graph, graph)
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": [], "c": ["a", "b"]}) == []


def test_unlock_at_must_be_rfc3339_with_an_offset() -> None:
    assert parse_unlock_at("m", "2026-01-02T03:04:05Z") is not None
    assert parse_unlock_at("m", None) is None
    for bad in ("2026-01-02", "2026-01-02T03:04:05", "tomorrow"):
        with pytest.raises(RulesError, match="RFC 3339"):
            parse_unlock_at("modules['m']", bad)


def test_a_view_completes_only_a_view_chapter_and_counts_for_nothing_elsewhere() -> None:
    view = TailEvent(3, "e003", VIEWED, -1.0, 0, -1.0)
    assert completed_at([view], ChapterRule("view", 0)) == 3
    assert completed_at([ev(1), ev(2, UNCOMPLETE, -1), view], ChapterRule("view", 0)) == 3
    assert completed_at([view, ev(4, UNCOMPLETE, -1)], ChapterRule("view", 0)) is None
    for rule in (ChapterRule("complete", 100), ChapterRule("min_time", 0),
                 ChapterRule("min_score", 0, "q-1")):
        assert decide([view], rule) == [view]
        s = summarize_chapter(rebuild_chapter(decide([ev(1, progress=30, time_ms=5), view], rule)))
        assert (s.completed, s.progress, s.time_ms, s.first_ts, s.last_ts) == (
            rule.kind == "min_time", 100.0 if rule.kind == "min_time" else 30.0, 5, 1, 1)
    alone = summarize_chapter(rebuild_chapter([view]))
    assert (alone.completed, alone.progress, alone.first_ts) == (False, 0.0, None)
