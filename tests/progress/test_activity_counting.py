"""Daily activity from buffer entries (pure): tail events one by one, a folded base as one."""

from __future__ import annotations

from datetime import UTC, date, datetime

from aggregator.summary import chapter_activity
from buffer.fold import COMPLETING, PROGRESS, Base, ChapterState, TailEvent

DAY = 86_400_000
T = 1_795_000_000_000 - 1_795_000_000_000 % DAY  # a UTC midnight


def test_each_tail_event_counts_on_its_own_day_with_its_time() -> None:
    state = ChapterState(tail=[TailEvent(T + 10, "a", PROGRESS, 10.0, 5000, -1.0),
                               TailEvent(T + DAY + 10, "b", COMPLETING, -1.0, 7000, -1.0)])
    got = chapter_activity({("u", "c", "ch"): state}, [("u", T + 20)])
    d0 = datetime.fromtimestamp(T / 1000, UTC).date()
    assert got == {("u", d0): (5000, 2), ("u", date.fromordinal(d0.toordinal() + 1)): (7000, 1)}


def test_a_folded_base_counts_once_with_all_its_time_on_its_last_day() -> None:
    base = Base(upto_ts=T + 5, upto_id="z", first_ts=T, last_ts=T + 5, time_ms=9000)
    got = chapter_activity({("u", "c", "ch"): ChapterState(base=base)})
    assert got == {("u", datetime.fromtimestamp(T / 1000, UTC).date()): (9000, 1)}
