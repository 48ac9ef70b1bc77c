"""The shared core without I/O: batching, limits, seq numbers, tickets, drops, fork."""

from __future__ import annotations

import logging
import uuid

import msgspec
import pytest

from waymark_client import EventTooLarge, InvalidEvent, codec, events
from waymark_client.delivery import Answer, Delivered, Delivery, Failed, Retry
from waymark_client.errors import BatchRefused, DeliveryFailed, EventsRejected
from waymark_client.options import ClientOptions
from waymark_client.pipeline import Pipeline
from waymark_client.wire import Event


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**opts: object) -> tuple[Pipeline, Clock]:
    clock = Clock()
    return Pipeline(ClientOptions(api_key="k", **opts), clock), clock  # type: ignore[arg-type]


def view(n: int, course: str = "c") -> Event:
    return events.viewed(f"u{n}", course)


def admit(pipeline: Pipeline, event: Event) -> str:
    checked, raw = codec.checked(event)
    return pipeline.admit(checked, len(raw))


def test_event_ids_are_uuid7() -> None:
    ids = [events.new_event_id() for _ in range(100)]
    assert all(uuid.UUID(i).version == 7 and uuid.UUID(i).variant == uuid.RFC_4122 for i in ids)
    assert len(set(ids)) == 100


def test_an_event_breaking_the_contract_is_refused_at_once() -> None:
    with pytest.raises(InvalidEvent):
        codec.checked(events.progress("u", "c", "ch", 101))
    with pytest.raises(InvalidEvent):
        codec.checked(events.viewed("user with spaces", "c"))


def test_an_event_over_32_kib_is_refused_at_once() -> None:
    big = events.quiz_attempt("u", "c", "q", "a", 1, 2, responses=[])
    big = msgspec.structs.replace(big, quiz_id="q" * 128, responses=[])
    text = "x" * 4000
    responses = [msgspec.convert({"question_id": "q", "text": text}, events.QuizResponse)] * 9
    with pytest.raises(EventTooLarge):
        codec.checked(msgspec.structs.replace(big, responses=responses))


def test_a_batch_is_due_at_flush_at_events() -> None:
    pipeline, clock = make(flush_at=3)
    admit(pipeline, view(1))
    admit(pipeline, view(2))
    assert not pipeline.due(clock.now)
    admit(pipeline, view(3))
    assert pipeline.due(clock.now)


def test_a_batch_is_due_after_flush_interval() -> None:
    pipeline, clock = make(flush_interval=5.0)
    admit(pipeline, view(1))
    assert pipeline.wait_hint(clock.now) == 5.0
    clock.now += 5.0
    assert pipeline.due(clock.now)


def test_batches_stay_under_max_batch_bytes_and_1000_events() -> None:
    pipeline, clock = make(max_batch_bytes=32 * 1024, flush_at=1000, gzip_threshold=None)
    for n in range(2000):
        admit(pipeline, view(n))
    pipeline.request_flush()
    sizes = []
    while (delivery := pipeline.take(clock.now)) is not None:
        body, _ = delivery.request(0)
        assert len(body) <= 32 * 1024
        sizes.append(len(delivery.events))
        pipeline.settle(
            delivery,
            Delivered(
                msgspec.convert(
                    {"accepted": len(delivery.events), "duplicates": 0, "rejected": []},
                    codec.BatchResult,
                )
            ),
            clock.now,
        )
    assert sum(sizes) == 2000 and max(sizes) < 1000


def test_seq_grows_by_one_per_queued_event_under_one_source() -> None:
    pipeline, clock = make(flush_at=5)
    for n in range(5):
        admit(pipeline, view(n))
    delivery = pipeline.take(clock.now)
    assert delivery is not None
    assert [e.seq for e in delivery.events] == [1, 2, 3, 4, 5]
    assert len({e.source_id for e in delivery.events}) == 1


def test_flush_waits_for_exactly_the_events_queued_before_it() -> None:
    pipeline, clock = make()
    admit(pipeline, view(1))
    target = pipeline.request_flush()
    delivery = pipeline.take(clock.now)
    assert delivery is not None
    admit(pipeline, view(2))
    assert pipeline.settled_through() < target
    pipeline.settle(delivery, Failed(BatchRefused(400, "bad", "no"), retryable=False), clock.now)
    assert pipeline.settled_through() >= target


def test_a_full_queue_drops_counts_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    pipeline, _ = make(max_queue_size=2)
    with caplog.at_level(logging.WARNING, logger="waymark.client"):
        for n in range(5):
            if pipeline.has_room():
                admit(pipeline, view(n))
            else:
                pipeline.drop()
    assert pipeline.stats().dropped == 3 and pipeline.stats().queued == 2
    assert "queue full" in caplog.text


def test_a_batch_out_of_budget_without_spool_is_reported_and_counted() -> None:
    pipeline, clock = make()
    admit(pipeline, view(1))
    pipeline.request_flush()
    delivery = pipeline.take(clock.now)
    assert delivery is not None
    report = pipeline.settle(delivery, Failed(DeliveryFailed(3, "503"), retryable=True), clock.now)
    assert report is not None and len(report[1]) == 1
    assert pipeline.stats().failed == 1


def test_a_child_after_fork_starts_empty_with_a_new_source() -> None:
    pipeline, clock = make()
    admit(pipeline, view(1))
    pipeline.request_flush()
    before = pipeline.take(clock.now)
    assert before is not None
    pipeline.forget_after_fork()
    assert pipeline.queued() == 0 and pipeline.settled_through() == 0
    admit(pipeline, view(2))
    pipeline.request_flush()
    after = pipeline.take(clock.now)
    assert after is not None and after.events[0].seq == 1
    assert after.events[0].source_id != before.events[0].source_id


# -- one batch's retries ---------------------------------------------------------------------


def delivery(**opts: object) -> Delivery:
    return Delivery([view(1)], ClientOptions(api_key="k", **opts), started_at=0.0)  # type: ignore[arg-type]


def test_a_503_with_retry_after_waits_at_least_that_long() -> None:
    d = delivery()
    d.request(0)
    step = d.answered(Answer(503, b"", retry_after="2"), now=0.1, now_epoch=0, rand01=0.0)
    assert step == Retry(2.0)


def test_a_400_is_final_with_the_servers_code() -> None:
    d = delivery()
    d.request(0)
    body = b'{"error": {"code": "bad_batch", "message": "nope"}}'
    step = d.answered(Answer(400, body, "application/json"), now=0, now_epoch=0, rand01=0.5)
    assert isinstance(step, Failed) and not step.retryable
    assert isinstance(step.error, BatchRefused) and step.error.error_code == "bad_batch"


def test_past_the_budget_the_batch_fails_as_retryable() -> None:
    d = delivery(retry_budget=1.0)
    d.request(0)
    step = d.network_error(ConnectionRefusedError(), now=0.9, rand01=0.9)
    assert isinstance(step, Failed) and step.retryable
    assert isinstance(step.error, DeliveryFailed)


def test_rejections_in_a_202_are_paired_with_their_events() -> None:
    d = delivery()
    body = (
        b'{"accepted": 0, "duplicates": 0, "rejected": [{"index": 0, "code": "x", "message": "y"}]}'
    )
    step = d.answered(Answer(202, body), now=0, now_epoch=0, rand01=0)
    assert isinstance(step, Delivered) and step.rejected is not None
    error, rejected = step.rejected
    assert isinstance(error, EventsRejected) and rejected == d.events


def test_every_attempt_carries_the_same_ids_and_a_fresh_sent_at() -> None:
    d = delivery(gzip_threshold=None)
    first, _ = d.request(1000)
    second, _ = d.request(2000)
    a, b = msgspec.json.decode(first), msgspec.json.decode(second)
    assert a["events"] == b["events"] and (a["sent_at"], b["sent_at"]) == (1000, 2000)


def test_event_ids_grow_in_the_order_they_are_made() -> None:
    ids = [events.new_event_id() for _ in range(10_000)]
    assert ids == sorted(ids)
    assert [uuid.UUID(i).version for i in ids[:3]] == [7, 7, 7]
