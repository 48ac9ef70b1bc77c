"""The "ever achieved" rules and the moment a criterion first holds, without I/O."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.achievement_rules import (
    Activity,
    Criterion,
    History,
    Moment,
    current_period,
    first_completing,
    first_moment,
    leaderboard_periods,
    longest_streak,
)
from aggregator.certificates import (
    CROCKFORD,
    certificate_fields,
    new_code,
    normalize_code,
    rfc3339_ms,
)
from buffer.fold import COMPLETING, PROGRESS, UNCOMPLETE, Base, ChapterState, TailEvent
from tests.achievement_reference import RefDefinition, awards

DAY = 86_400_000


def _ev(ts: int, eid: str, kind: str = PROGRESS, time_ms: int = 0) -> TailEvent:
    return TailEvent(ts, eid, kind, 50.0, time_ms, -1.0)


def _chapters(*moments: tuple[str, Moment]) -> History:
    return History({"chapter": {("c-1", ch): m for ch, m in moments}})


def test_a_chapter_counts_from_its_earliest_completing_fact_even_after_an_uncomplete() -> None:
    state = ChapterState(Base(), [_ev(5, "b", COMPLETING), _ev(3, "a", COMPLETING),
                                  _ev(7, "c", UNCOMPLETE)])
    assert first_completing(state) == Moment(3, "a")


def test_a_chapter_without_completing_facts_has_none() -> None:
    assert first_completing(ChapterState(Base(), [_ev(5, "b")])) is None


def test_counting_criteria_hold_at_the_nth_distinct_milestone_in_ts_id_order() -> None:
    h = _chapters(("ch-1", Moment(30, "z")), ("ch-2", Moment(10, "b")), ("ch-3", Moment(10, "a")))
    assert first_moment(Criterion("chapters_completed", 2), h) == Moment(10, "b")
    assert first_moment(Criterion("chapters_completed", 3), h) == Moment(30, "z")
    assert first_moment(Criterion("chapters_completed", 4), h) is None


def test_a_course_scope_counts_only_that_courses_milestones() -> None:
    h = History({"chapter": {("c-1", "a"): Moment(1), ("c-2", "b"): Moment(2)}})
    assert first_moment(Criterion("chapters_completed", 1, "c-2"), h) == Moment(2)
    assert first_moment(Criterion("chapters_completed", 2, "c-2"), h) is None


def test_time_spent_holds_at_the_event_whose_time_crosses_the_threshold() -> None:
    acts = [Activity(Moment(3, "c"), "c-1", 4000), Activity(Moment(1, "a"), "c-1", 5000),
            Activity(Moment(2, "b"), "c-2", 1000)]
    assert first_moment(Criterion("time_spent_s", 6), History({}, acts)) == Moment(2, "b")
    assert first_moment(Criterion("time_spent_s", 9, "c-1"), History({}, acts)) == Moment(3, "c")
    assert first_moment(Criterion("time_spent_s", 11), History({}, acts)) is None


def test_a_streak_holds_at_the_first_event_of_the_day_that_completes_the_run() -> None:
    acts = [Activity(Moment(d * DAY + h, f"e{d}{h}"), "c-1", 0)
            for d, h in [(0, 5), (1, 9), (1, 3), (3, 1), (2, 7)]]
    assert first_moment(Criterion("streak_days", 3), History({}, acts)) == Moment(2 * DAY + 7,
                                                                                   "e27")
    assert first_moment(Criterion("streak_days", 4), History({}, acts)) == Moment(3 * DAY + 1,
                                                                                   "e31")
    assert first_moment(Criterion("streak_days", 5), History({}, acts)) is None


def test_a_late_earlier_event_moves_the_moment_earlier_never_later() -> None:
    h1 = _chapters(("ch-1", Moment(50, "x")))
    h2 = _chapters(("ch-1", Moment(50, "x")), ("ch-2", Moment(20, "y")))
    c = Criterion("chapters_completed", 1)
    assert first_moment(c, h2) == Moment(20, "y") < first_moment(c, h1)  # type: ignore[operator]


def test_longest_streak_counts_consecutive_days() -> None:
    days = [date(2026, 1, d) for d in (1, 2, 3, 5, 6, 9)]
    assert longest_streak(days) == 3
    assert longest_streak([]) == 0


def test_leaderboard_periods_are_the_iso_week_from_monday_and_the_month() -> None:
    ms = 1_764_496_800_000  # 2025-11-30 10:00 UTC, a Sunday
    assert leaderboard_periods(ms) == ("all", "w2025-11-24", "m2025-11")
    assert current_period("week", date(2025, 11, 30)) == "w2025-11-24"
    assert current_period("month", date(2025, 11, 30)) == "m2025-11"


def test_codes_carry_80_random_bits_in_crockford_base32_and_read_aliases() -> None:
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(c) == 16 and set(c) <= set(CROCKFORD) for c in codes)
    assert normalize_code("abcd-ilo0 1234 5678") == "ABCD11001234" + "5678"


def test_certificate_fields_are_exactly_the_signed_ones() -> None:
    from datetime import UTC, datetime
    row: dict[str, Any] = {
        "certificate_id": "x", "code": "C", "user_id": "u", "scope": "course", "scope_id": "c",
        "title": "T", "issued_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "kid": "k"}
    assert certificate_fields(row) == {
        "certificate_id": "x", "code": "C", "user_id": "u", "course_id": "c", "title": "T",
        "issued_at": "2026-01-02T03:04:05.678Z", "kid": "k"}
    assert rfc3339_ms(row["issued_at"]) == "2026-01-02T03:04:05.678Z"


# The rules against the reference model, on random histories of one learner.

@st.composite
def a_history(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 30))
    out = []
    for i in range(n):
        kind = draw(st.sampled_from(["chapter_progress", "chapter_completed",
                                     "chapter_uncompleted"]))
        ev = {"id": f"e{i:02d}", "type": kind, "user_id": "u", "course_id":
              draw(st.sampled_from(["c-1", "c-2"])), "chapter_id": draw(st.sampled_from("abcd")),
              "ts": draw(st.integers(0, 6)) * DAY // 2 + draw(st.integers(0, 3)),
              "time_spent_s": draw(st.sampled_from([0, 1, 5]))}
        if kind == "chapter_progress":
            ev["progress"] = draw(st.sampled_from([10, 100]))
        out.append(ev)
    return out


def _history_of(events: list[dict[str, Any]]) -> History:
    chapters: dict[tuple[str, str], Moment] = {}
    acts = []
    for e in events:
        m = Moment(e["ts"], e["id"])
        acts.append(Activity(m, e["course_id"], e["time_spent_s"] * 1000))
        if e["type"] == "chapter_completed" or e.get("progress") == 100:
            key = (e["course_id"], e["chapter_id"])
            chapters[key] = min(chapters.get(key, m), m)
    return History({"chapter": chapters}, acts)


@settings(max_examples=200, deadline=None)
@given(a_history(), st.sampled_from([
    ("chapters_completed", 1, None), ("chapters_completed", 3, None),
    ("chapters_completed", 2, "c-1"), ("time_spent_s", 7, None), ("time_spent_s", 3, "c-2"),
    ("streak_days", 2, None), ("streak_days", 3, None)]))
def test_first_moment_equals_the_reference_model(
    events: list[dict[str, Any]], crit: tuple[str, int, str | None]
) -> None:
    kind, threshold, course = crit
    ref = awards(events, "u", [RefDefinition("a", kind, threshold, 0, course)], {})
    got = first_moment(Criterion(kind, threshold, course), _history_of(events))
    assert (None if got is None else (got.ts, got.id)) == ref.get("a")
