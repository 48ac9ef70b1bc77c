"""One batch on its way to the server, as a sans-I/O state machine.

Both clients drive it the same way — ask for the request, do the I/O their own way (a socket
in a thread, or aiohttp), report the answer or the network error, then either wait the delay
they are told or stop with an outcome — so the retry logic exists once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from waymark_client.wire import BatchResult, Event

from . import codec, policy
from .errors import BatchRefused, DeliveryFailed, EventsRejected, WaymarkClientError
from .options import ClientOptions


@dataclass(frozen=True, slots=True)
class Answer:
    """What the transport got back."""

    status: int
    body: bytes
    content_type: str | None = None
    retry_after: str | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """Send again after ``delay`` seconds."""

    delay: float


@dataclass(frozen=True, slots=True)
class Delivered:
    """The server answered 2xx; ``rejected`` pairs the events it listed as invalid."""

    result: BatchResult
    rejected: tuple[EventsRejected, list[Event]] | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """The batch was not taken. ``retryable``: a later try could still succeed."""

    error: WaymarkClientError
    retryable: bool


Outcome = Delivered | Failed


class Delivery:
    """The retry state of one batch; event ids and seqs never change between attempts."""

    def __init__(self, events: Sequence[Event], options: ClientOptions, started_at: float) -> None:
        self.events = list(events)
        self.attempts = 0
        self._options = options
        self._started_at = started_at
        self._last_error = ""

    def request(self, now_ms: int) -> tuple[bytes, dict[str, str]]:
        """Body and content headers of the next attempt; ``sent_at`` is the time of sending
        so the server's clock-skew correction stays right on a late retry."""
        self.attempts += 1
        return codec.encode_batch(
            self.events,
            sent_at_ms=now_ms,
            wire_format=self._options.wire_format,
            gzip_threshold=self._options.gzip_threshold,
        )

    def answered(
        self, answer: Answer, *, now: float, now_epoch: float, rand01: float
    ) -> Retry | Outcome:
        """What to do after an HTTP answer."""
        verdict = policy.classify(answer.status)
        if verdict is policy.Verdict.DELIVERED:
            return self._delivered(answer)
        error = codec.decode_error(answer.status, answer.body, answer.content_type)
        if verdict is policy.Verdict.FINAL:
            return Failed(BatchRefused(answer.status, error.code, error.message), retryable=False)
        self._last_error = f"HTTP {answer.status} {error.code}"
        retry_after = policy.parse_retry_after(answer.retry_after, now_epoch=now_epoch)
        return self._retry_or_give_up(retry_after, now=now, rand01=rand01)

    def network_error(self, exc: BaseException, *, now: float, rand01: float) -> Retry | Outcome:
        """What to do after the request failed without an answer."""
        self._last_error = f"{type(exc).__name__}: {exc}"
        return self._retry_or_give_up(None, now=now, rand01=rand01)

    def give_up(self, error: WaymarkClientError) -> Failed:
        """Stop now (the client is closing); a later process may still send these events."""
        return Failed(error, retryable=True)

    def _retry_or_give_up(
        self, retry_after: float | None, *, now: float, rand01: float
    ) -> Retry | Outcome:
        opts = self._options
        delay = policy.retry_delay(
            self.attempts - 1,
            retry_after,
            base=opts.backoff_base,
            cap=opts.backoff_max,
            retry_after_max=opts.retry_after_max,
            rand01=rand01,
        )
        if policy.within_budget(
            elapsed=now - self._started_at, delay=delay, budget=opts.retry_budget
        ):
            return Retry(delay)
        return Failed(DeliveryFailed(self.attempts, self._last_error), retryable=True)

    def _delivered(self, answer: Answer) -> Delivered:
        result = codec.decode_result(answer.body, answer.content_type)
        if not result.rejected:
            return Delivered(result)
        events = [self.events[r.index] for r in result.rejected if 0 <= r.index < len(self.events)]
        return Delivered(result, (EventsRejected(result.rejected), events))
