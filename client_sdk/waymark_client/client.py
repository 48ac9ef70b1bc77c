"""``ProgressClient``: the thread-based client for synchronous code (Django, Flask, Celery).

``track()`` validates and queues in the caller's thread and returns at once; one daemon sender
thread, started on first use (so a client made before ``fork()`` starts none in the parent
needlessly), sends batches. ``flush()`` and ``close()`` wait on the pipeline's tickets with a
deadline, so neither can hang past its timeout.
"""

from __future__ import annotations

import threading
import time
from typing import Unpack

from waymark_client.wire import Event

from . import blocking, codec, lifecycle
from .base import ClientBase, Options
from .delivery import Delivery, Outcome
from .transport import HttpTransport


class ProgressClient(ClientBase[str]):
    """Sync client; every method is safe to call from any thread."""

    def __init__(self, api_key: str, **options: Unpack[Options]) -> None:
        super().__init__(api_key, **options)
        self._thread: threading.Thread | None = None
        self._running = False
        self._closing = False
        self._abandon = False
        self._closed = False
        with self._cond:
            # Events a killed predecessor left in the spool go out without waiting for new ones.
            self._pipeline.open_spool()
            if self._pipeline.queued():
                self._start_sender()
        lifecycle.register(self)

    def track(self, event: Event) -> str:
        """Queue an event; returns the id the server will see it under (a merged progress event
        travels under the id of the pending event it was folded into)."""
        checked, raw = codec.checked(event)
        with self._cond:
            pipeline = self._pipeline
            if self._closing:
                pipeline.drop()
                return checked.id
            pipeline.open_spool()
            if not pipeline.has_room() and self.options.on_full == "block":
                self._start_sender()
                self._cond.wait_for(pipeline.has_room, self.options.block_timeout)
            if not pipeline.has_room():
                pipeline.drop()
                return checked.id
            event_id = pipeline.admit(checked, len(raw))
            self._start_sender()
            if pipeline.due(time.monotonic()):
                self._cond.notify_all()
            return event_id

    def flush(self, timeout: float = 10.0) -> bool:
        """Send everything queued so far now; True once all of it is answered for, False if
        ``timeout`` seconds passed first (sending goes on in the background)."""
        with self._cond:
            target = self._pipeline.request_flush()
            if self._pipeline.settled_through() >= target:
                return True
            self._start_sender()
            self._cond.notify_all()
            return self._cond.wait_for(
                lambda: self._pipeline.settled_through() >= target, max(0.0, timeout)
            )

    def close(self, timeout: float | None = None) -> None:
        """Flush for at most ``timeout`` (default ``shutdown_timeout``), then stop. Events still
        unsent go to ``on_error`` as ``ClientClosed`` — or stay in the spool for the next run."""
        deadline = time.monotonic() + (
            self.options.shutdown_timeout if timeout is None else timeout
        )
        with self._cond:
            if self._closing:
                return
            self._closing = True
        # Most of the time goes to sending; the rest lets the sender wind down and report.
        self.flush(max(0.0, deadline - time.monotonic()) * 0.9)
        with self._cond:
            self._abandon = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            report = self._pipeline.abandon_pending()
            self._closed = True
            if not self._running:
                self._pipeline.close_spool()
        self._report(report)

    def __enter__(self) -> ProgressClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- sender thread ---------------------------------------------------------------------

    def _start_sender(self) -> None:
        if self._running or self._abandon:
            return
        self._running = True
        self._thread = threading.Thread(target=self._run, name="waymark-sender", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        transport = HttpTransport(self.options)
        try:
            while (delivery := self._next_batch()) is not None:
                outcome = self._deliver(delivery, transport)
                with self._cond:
                    report = self._pipeline.settle(delivery, outcome, time.monotonic())
                    self._cond.notify_all()
                self._report(report)
        finally:
            transport.close()
            with self._cond:
                self._running = False
                if self._closed:
                    self._pipeline.close_spool()
                self._cond.notify_all()

    def _next_batch(self) -> Delivery | None:
        with self._cond:
            while not self._abandon:
                now = time.monotonic()
                delivery = self._pipeline.take(now)
                if delivery is not None:
                    return delivery
                if self._closing and not self._pipeline.queued():
                    return None
                self._cond.wait(self._pipeline.wait_hint(now))
            return None

    def _deliver(self, delivery: Delivery, transport: HttpTransport) -> Outcome:
        def wait(delay: float) -> bool:
            with self._cond:
                return self._cond.wait_for(lambda: self._abandon, delay)

        return blocking.deliver(delivery, transport, self._rand01, wait)

    # -- process hooks ---------------------------------------------------------------------

    def _before_fork(self) -> None:
        # Holding the lock across fork() means the child never inherits a half-changed queue.
        self._cond.acquire()

    def _after_fork_in_parent(self) -> None:
        self._cond.release()

    def _after_fork_in_child(self) -> None:
        # The sender thread does not exist here and the inherited lock is held by the parent's
        # snapshot, so everything is made anew; the parent's events stay the parent's.
        self._cond = threading.Condition(threading.RLock())
        self._pipeline.forget_after_fork()
        self._thread, self._running = None, False
        self._reseed_after_fork()

    def _at_exit(self) -> None:
        if not self._closing:
            self.close()
