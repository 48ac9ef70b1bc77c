"""What both clients share: options, the pipeline, the lock, event helpers, error reporting.

The helpers build an event and hand it to ``track()``; a subclass decides what ``track()``
returns (the event id for ``ProgressClient``, an awaitable of it for ``AsyncProgressClient``).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Iterable
from typing import Generic, Literal, TypedDict, TypeVar, Unpack

from waymark_client.wire import Event, QuizResponse

from . import events
from .events import Ts
from .options import ClientOptions, ErrorCallback, OnFull, WireFormat
from .pipeline import ClientStats, Pipeline, Report

log = logging.getLogger("waymark.client")

R = TypeVar("R", covariant=True)


class Options(TypedDict, total=False):
    """Keyword options of both clients; defaults live in ``ClientOptions`` only."""

    base_url: str
    flush_at: int
    flush_interval: float
    max_batch_bytes: int
    max_queue_size: int
    on_full: OnFull
    block_timeout: float
    timeout: float
    retry_budget: float
    backoff_base: float
    backoff_max: float
    retry_after_max: float
    gzip_threshold: int | None
    wire_format: WireFormat
    merge_progress: bool
    merge_window: float
    spool_path: str | None
    shutdown_timeout: float
    on_error: ErrorCallback | None


class ClientBase(Generic[R]):
    """Shared state and the typed event helpers."""

    def __init__(self, api_key: str, **options: Unpack[Options]) -> None:
        self.options = ClientOptions(api_key=api_key, **options)
        self._pipeline = Pipeline(self.options)
        # Guards the pipeline; an RLock so a fork hook on a thread already inside is safe.
        self._cond = threading.Condition(threading.RLock())
        self._random = random.Random()

    def track(self, event: Event) -> R:
        """Queue any wire event as given (its own ``id``; see ``new_event_id``)."""
        raise NotImplementedError

    def progress(
        self,
        user_id: str,
        course_id: str,
        chapter_id: str,
        progress: float,
        *,
        position_s: float | None = None,
        time_spent_s: float = 0.0,
        ts: Ts | None = None,
    ) -> R:
        """Queue ``chapter_progress``: percent, resume point, seconds since the last one."""
        return self.track(
            events.progress(
                user_id,
                course_id,
                chapter_id,
                progress,
                position_s=position_s,
                time_spent_s=time_spent_s,
                ts=ts,
            )
        )

    def complete(
        self,
        user_id: str,
        course_id: str,
        chapter_id: str,
        *,
        time_spent_s: float = 0.0,
        ts: Ts | None = None,
    ) -> R:
        """Queue ``chapter_completed``."""
        return self.track(
            events.complete(user_id, course_id, chapter_id, time_spent_s=time_spent_s, ts=ts)
        )

    def uncomplete(
        self, user_id: str, course_id: str, chapter_id: str, *, ts: Ts | None = None
    ) -> R:
        """Queue ``chapter_uncompleted``."""
        return self.track(events.uncomplete(user_id, course_id, chapter_id, ts=ts))

    def quiz_attempt(
        self,
        user_id: str,
        course_id: str,
        quiz_id: str,
        attempt_id: str,
        score: float,
        max_score: float,
        *,
        passed: bool | None = None,
        duration_s: float | None = None,
        chapter_id: str | None = None,
        responses: Iterable[QuizResponse] = (),
        ts: Ts | None = None,
    ) -> R:
        """Queue ``quiz_attempt``; leave ``passed`` out to let the server judge it."""
        return self.track(
            events.quiz_attempt(
                user_id,
                course_id,
                quiz_id,
                attempt_id,
                score,
                max_score,
                passed=passed,
                duration_s=duration_s,
                chapter_id=chapter_id,
                responses=responses,
                ts=ts,
            )
        )

    def enrollment(
        self,
        user_id: str,
        course_id: str,
        status: Literal["enrolled", "paused", "dropped"],
        *,
        ts: Ts | None = None,
    ) -> R:
        """Queue ``enrollment``."""
        return self.track(events.enrollment(user_id, course_id, status, ts=ts))

    def reset(self, user_id: str, course_id: str, *, ts: Ts | None = None) -> R:
        """Queue ``course_reset``: the learner starts the course over."""
        return self.track(events.reset(user_id, course_id, ts=ts))

    def viewed(
        self, user_id: str, course_id: str, chapter_id: str | None = None, *, ts: Ts | None = None
    ) -> R:
        """Queue ``course_viewed``."""
        return self.track(events.viewed(user_id, course_id, chapter_id, ts=ts))

    def stats(self) -> ClientStats:
        """A snapshot of the client's counters."""
        with self._cond:
            return self._pipeline.stats()

    def _report(self, report: Report | None) -> None:
        """Hand a failure to ``on_error``; a callback that raises is logged, never propagated,
        because it runs on the sender and must not stop delivery of later batches."""
        if report is None or self.options.on_error is None:
            return
        try:
            self.options.on_error(*report)
        except Exception:
            log.exception("waymark on_error callback raised")

    def _rand01(self) -> float:
        return self._random.random()

    def _reseed_after_fork(self) -> None:
        # A forked child would otherwise draw the same jitter as its parent and its siblings.
        self._random = random.Random()
