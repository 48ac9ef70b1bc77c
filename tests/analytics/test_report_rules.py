"""Periods, report figures, history and forecast as pure rules, against day-by-day references."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator import report_rules as rules
from tests.analytics.reference import longest_run


def test_an_iso_week_runs_monday_to_sunday_across_a_year_end() -> None:
    p = rules.week("2026-W01")
    assert (p.start, p.end) == (date(2025, 12, 29), date(2026, 1, 4))
    assert rules.previous(p).name == "2025-W52"


def test_week_53_exists_only_in_long_years() -> None:
    assert rules.week("2026-W53").start == date(2026, 12, 28)
    with pytest.raises(rules.PeriodError):
        rules.week("2025-W53")


def test_a_month_before_january_is_the_previous_december() -> None:
    p = rules.previous(rules.month("2026-01"))
    assert (p.name, p.start, p.end) == ("2025-12", date(2025, 12, 1), date(2025, 12, 31))
    assert rules.month("2028-02").days == 29


@pytest.mark.parametrize("text", ["2026-11-01", "2026-13", "26-11", "2026-W", "2026-W00", "",
                                  "1969-12", "9999-W01", "9999-12"])
def test_a_malformed_period_is_a_clear_error(text: str) -> None:
    with pytest.raises(rules.PeriodError, match="must be"):
        rules.month(text) if "W" not in text else rules.week(text)


def test_a_learner_with_no_activity_in_the_period_gets_zeros_and_a_negative_change() -> None:
    facts = rules.LearnerFacts({date(2026, 11, 20): 60_000}, [date(2026, 11, 20)], [], [], [])
    now = rules.figures(facts, rules.week("2026-W48"))
    before = rules.figures(facts, rules.week("2026-W47"))
    assert now.active_days == 0 and now.time_spent_s == 0 and now.consistency == 0
    assert before.sessions == 1 and before.consistency == round(1 / 7, 4)
    assert rules.change(now, before).time_spent_s == -60


def test_a_quiz_passed_twice_in_a_period_counts_once() -> None:
    d = date(2026, 11, 24)
    facts = rules.LearnerFacts({}, [], [], [("c|q", d), ("c|q", d + timedelta(days=1)),
                                            ("c|r", d)], [])
    assert rules.figures(facts, rules.week("2026-W48")).quizzes_passed == 2


@given(st.sets(st.integers(0, 70), max_size=40), st.integers(0, 40))
def test_figures_equal_a_day_by_day_count(offsets: set[int], start: int) -> None:
    base = date(2026, 9, 1)
    days = {base + timedelta(days=o): 1000 * (o + 1) for o in offsets}
    p = rules.Period("x", base + timedelta(days=start), base + timedelta(days=start + 29))
    f = rules.figures(rules.LearnerFacts(days, list(days), [], [], []), p)
    inside = {d for d in days if p.start <= d <= p.end}
    assert f.active_days == len(inside) == f.sessions
    assert f.time_spent_s == sum(days[d] for d in inside) / 1000
    assert f.longest_streak_days == longest_run(inside)


def at(d: date, hour: int = 12) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=UTC)


def test_history_counts_a_completion_at_the_last_instant_of_a_day_on_that_day() -> None:
    d = date(2026, 11, 20)
    last = datetime(2026, 11, 20, 23, 59, 59, 999_000, tzinfo=UTC)
    points = rules.history([d, d + timedelta(days=1)], [(1, last), (3, at(d + timedelta(1)))], 4)
    assert points == [(d, 25.0), (d + timedelta(days=1), 100.0)]


def test_history_without_required_weight_is_zero() -> None:
    assert rules.history([date(2026, 1, 1)], [], 0) == [(date(2026, 1, 1), 0.0)]


def test_forecast_extrapolates_the_pace_of_the_last_fourteen_days() -> None:
    last = date(2026, 11, 20)
    f = rules.forecast(
        completed_at=None, last_activity_day=last, last_accessed_at=at(last),
        active_days=[last, last - timedelta(days=1), last - timedelta(days=20)],
        completions=[(2, at(last)), (1, at(last - timedelta(days=20)))], total_weight=10,
        as_of=at(last + timedelta(days=1)), at_risk_days=14,
    )
    # 2 weight on 2 active days of 14: 1 per active day; 7 remaining at 2 active days a fortnight
    assert f.velocity == 1.0 and not f.at_risk
    assert f.predicted_completion_at == datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC) + \
        timedelta(days=49)


def test_no_completion_in_the_window_means_no_velocity_and_silence_means_risk() -> None:
    last = date(2026, 11, 1)
    f = rules.forecast(
        completed_at=None, last_activity_day=last, last_accessed_at=at(last),
        active_days=[last], completions=[], total_weight=3,
        as_of=at(last + timedelta(days=15)), at_risk_days=14,
    )
    assert (f.predicted_completion_at, f.velocity, f.at_risk) == (None, None, True)


def test_a_completed_course_is_never_at_risk_and_predicted_when_it_completed() -> None:
    done = at(date(2026, 1, 1))
    f = rules.forecast(
        completed_at=done, last_activity_day=None, last_accessed_at=None, active_days=[],
        completions=[], total_weight=1, as_of=at(date(2026, 11, 1)), at_risk_days=14,
    )
    assert (f.predicted_completion_at, f.at_risk) == (done, False)
