"""Domain-event ids derived from their batch, and a retained batch read back (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

from aggregator.events import DomainEvent, event_ids
from buffer.replay import parse_entry

AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def ev(type_: str = "chapter.completed", user: str = "u1", at: datetime = AT,
       **data: object) -> DomainEvent:
    return DomainEvent(type=type_, user_id=user, course_id="c1", occurred_at=at, data=dict(data))


def test_a_batch_applied_again_gives_its_events_the_same_ids() -> None:
    events = [ev(chapter_id="ch1"), ev(chapter_id="ch2"), ev("course.progressed", percent=50)]
    assert event_ids("3-abc", events) == event_ids("3-abc", list(events))


def test_ids_differ_between_batches_events_and_repeats() -> None:
    events = [ev(chapter_id="ch1"), ev(chapter_id="ch2"), ev(user="u2"), ev(at=AT.replace(hour=8))]
    ids = event_ids("3-abc", events)
    assert len(set(ids)) == len(ids)  # two alike events in one batch: told apart by their rank
    assert set(ids).isdisjoint(event_ids("3-abd", events))
    assert set(ids).isdisjoint(event_ids("3-abc.0", events))  # a split part is another batch


def test_the_data_does_not_change_the_id() -> None:
    """A value the apply step computes from the clock cannot make a replayed event new."""
    assert event_ids("b", [ev(issued_at="09:00")]) == event_ids("b", [ev(issued_at="09:01")])


def test_without_a_batch_ids_are_random() -> None:
    assert event_ids(None, [ev()]) != event_ids(None, [ev()])


def test_a_retained_entry_is_the_batch_in_its_drained_order() -> None:
    kept = parse_entry(5, b"1732950000123-2", {b"b": b"5-f00", b"u|c|ch": b"\x92x", b"u|c|": b"y"})
    assert kept.stream_id == (1732950000123, 2)
    assert (kept.batch.shard, kept.batch.batch_id) == (5, "5-f00")
    assert kept.batch.entries == [("u|c|ch", b"\x92x"), ("u|c|", b"y")]
