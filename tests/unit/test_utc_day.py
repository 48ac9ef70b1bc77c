"""The day an event counts on is its UTC calendar day, computed without a datetime per event."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from aggregator.summary import utc_day


@given(st.integers(-10**12, 10**13))
def test_utc_day_is_the_calendar_day_of_the_instant(ms: int) -> None:
    assert utc_day(ms) == datetime.fromtimestamp(ms / 1000, UTC).date()


def test_the_last_millisecond_of_a_day_is_still_that_day() -> None:
    midnight = 1_764_460_800_000  # 2025-11-30T00:00:00Z
    assert utc_day(midnight - 1) == date(2025, 11, 29)
    assert utc_day(midnight) == date(2025, 11, 30)
