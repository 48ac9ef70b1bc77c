"""ProgressClient against a real HTTP stub that misbehaves on demand."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from waymark_client import (
    BatchRefused,
    ClientClosed,
    EventsRejected,
    InvalidEvent,
    ProgressClient,
    WaymarkClientError,
    events,
)
from waymark_client.wire import Event

from .stub import Fault, StubServer

Errors = list[tuple[WaymarkClientError, Sequence[Event]]]


@pytest.fixture
def errors() -> Errors:
    return []


@pytest.fixture
def make(errors: Errors) -> Iterator[Any]:
    made: list[ProgressClient] = []

    def factory(url: str, **opts: Any) -> ProgressClient:
        opts.setdefault("flush_interval", 60.0)
        client = ProgressClient(
            "secret", base_url=url, on_error=lambda e, evs: errors.append((e, evs)), **opts
        )
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close(timeout=1.0)


def test_a_batch_goes_out_at_flush_at_events(stub: StubServer, make: Any) -> None:
    client = make(stub.url, flush_at=10)
    for n in range(10):
        client.viewed(f"u{n}", "c")
    assert len(stub.wait_for(10)) == 10
    assert [len(r.events) for r in stub.requests] == [10]
    assert stub.requests[0].headers["Authorization"] == "Bearer secret"


def test_a_lone_event_goes_out_after_flush_interval(stub: StubServer, make: Any) -> None:
    client = make(stub.url, flush_interval=0.2)
    client.enrollment("u", "c", "enrolled")
    assert len(stub.wait_for(1)) == 1


def test_a_batch_goes_out_once_it_nears_max_batch_bytes(stub: StubServer, make: Any) -> None:
    client = make(stub.url, flush_at=1000, max_batch_bytes=32 * 1024, gzip_threshold=None)
    responses = [events.QuizResponse(question_id="q", text="x" * 2000)]
    for n in range(40):
        client.quiz_attempt("u", "c", "q", f"a{n}", 1, 2, responses=responses)
    # About 2.2 KB each: two full batches leave without a flush, the rest waits its turn.
    assert len(stub.wait_for(28)) >= 28
    assert len(stub.requests) >= 2
    assert all(int(r.headers["Content-Length"]) <= 32 * 1024 for r in stub.requests)


def test_progress_of_one_chapter_is_merged_before_sending(stub: StubServer, make: Any) -> None:
    client = make(stub.url)
    for pct in (10, 30, 20):
        client.progress("u", "c", "ch", pct, time_spent_s=10, position_s=pct * 3)
    client.complete("u", "c", "ch", time_spent_s=1)
    client.progress("u", "c", "ch", 100, time_spent_s=2)
    assert client.flush(5.0)
    got = [
        (e["type"], e.get("progress"), e["time_spent_s"], e.get("position_s"))
        for e in stub.received
    ]
    assert got == [
        ("chapter_progress", 30.0, 30.0, 60.0),
        ("chapter_completed", None, 1.0, None),
        ("chapter_progress", 100.0, 2.0, None),
    ]
    assert client.stats().merged == 2


def test_503_and_429_are_retried_after_retry_after_and_leave_one_copy(
    stub: StubServer, make: Any
) -> None:
    stub.faults.extend([Fault(503, "0.2"), Fault(429, "0.2"), Fault(503)])
    client = make(stub.url, backoff_base=0.05)
    sent = {client.viewed(f"u{n}", "c") for n in range(50)}
    assert client.flush(5.0)
    assert stub.statuses() == [503, 429, 503, 202]
    assert sorted(stub.ids()) == sorted(sent)
    first, second = stub.requests[0], stub.requests[1]
    assert second.at - first.at >= 0.2
    assert [e["id"] for e in first.events] == [e["id"] for e in stub.requests[3].events]
    assert client.stats().retries == 3


def test_a_400_is_never_retried_and_goes_to_on_error(
    stub: StubServer, make: Any, errors: Errors
) -> None:
    stub.always = Fault(400, code="bad_batch")
    client = make(stub.url)
    client.viewed("u", "c")
    assert client.flush(5.0)
    time.sleep(0.2)
    assert stub.statuses() == [400]
    [(error, failed)] = errors
    assert isinstance(error, BatchRefused) and error.error_code == "bad_batch"
    assert len(failed) == 1 and client.stats().failed == 1


def test_events_rejected_in_a_202_are_reported_not_retried(
    stub: StubServer, make: Any, errors: Errors
) -> None:
    client = make(stub.url)
    bad = client.viewed("u", "c")
    stub.reject_ids.add(bad)
    client.viewed("u2", "c")
    assert client.flush(5.0)
    assert stub.statuses() == [202]
    [(error, rejected)] = errors
    assert isinstance(error, EventsRejected) and [e.id for e in rejected] == [bad]


def test_an_invalid_event_raises_and_queues_nothing(stub: StubServer, make: Any) -> None:
    client = make(stub.url)
    with pytest.raises(InvalidEvent):
        client.progress("u", "c", "ch", 150)
    assert client.stats().enqueued == 0


def test_a_full_queue_drops_the_newest_and_counts(
    dead_url: str, make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = make(dead_url, max_queue_size=5)
    with caplog.at_level(logging.WARNING, logger="waymark.client"):
        for n in range(8):
            client.viewed(f"u{n}", "c")
    stats = client.stats()
    assert (stats.queued, stats.dropped) == (5, 3)
    assert "queue full" in caplog.text


def test_a_full_queue_with_on_full_block_waits_then_drops(dead_url: str, make: Any) -> None:
    client = make(dead_url, max_queue_size=2, on_full="block", block_timeout=0.2)
    client.viewed("u1", "c")
    client.viewed("u2", "c")
    started = time.monotonic()
    client.viewed("u3", "c")
    assert time.monotonic() - started >= 0.2
    assert client.stats().dropped == 1


def test_a_full_queue_with_on_full_block_loses_nothing_while_the_server_keeps_up(
    stub: StubServer, make: Any
) -> None:
    client = make(stub.url, max_queue_size=5, flush_at=5, on_full="block", block_timeout=5.0)
    for n in range(100):
        client.viewed(f"u{n}", "c")
    assert client.flush(5.0)
    assert len(set(stub.ids())) == 100 and client.stats().dropped == 0


def test_flush_returns_on_time_with_the_server_down(
    dead_url: str, make: Any, errors: Errors
) -> None:
    client = make(dead_url, backoff_base=0.05, backoff_max=0.1)
    client.viewed("u", "c")
    started = time.monotonic()
    assert client.flush(0.5) is False
    assert 0.5 <= time.monotonic() - started < 1.5
    started = time.monotonic()
    client.close(timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert [type(e) for e, _ in errors] == [ClientClosed]


def test_close_sends_what_is_queued(stub: StubServer, make: Any) -> None:
    client = make(stub.url)
    ids = {client.viewed(f"u{n}", "c") for n in range(3)}
    client.close()
    assert set(stub.ids()) == ids


def test_msgpack_and_gzip_on_the_wire(stub: StubServer, make: Any) -> None:
    client = make(stub.url, wire_format="msgpack", gzip_threshold=0)
    event_id = client.progress("u", "c", "ch", 50, position_s=1.5)
    assert client.flush(5.0)
    assert stub.ids() == [event_id]
    headers = stub.requests[0].headers
    assert headers["Content-Type"] == "application/msgpack"
    assert headers["Content-Encoding"] == "gzip"
