"""``AsyncProgressClient``: the asyncio client (aiohttp, FastAPI), on the same pipeline.

``await track()`` validates and queues without blocking the loop (it waits only when the queue
is full and ``on_full="block"``); a sender task, started on first use inside the running loop,
sends batches. Use one client per event loop, and ``await close()`` at shutdown (aiohttp
``cleanup_ctx``, FastAPI lifespan). If the loop is gone at interpreter exit, what is left is sent
from the exit hook with blocking HTTP, within ``shutdown_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, Unpack

from waymark_client.wire import Event

from . import blocking, codec, lifecycle
from .aio_transport import NETWORK_ERRORS, AioTransport
from .base import ClientBase, Options
from .delivery import Delivery, Outcome, Retry
from .errors import ClientClosed
from .events import now_ms
from .transport import HttpTransport

# aiohttp sessions inherited through fork(): the parent's to close; kept so that the child never
# finalises (and warns about) them.
_inherited_after_fork: list[object] = []


class AsyncProgressClient(ClientBase[Coroutine[Any, Any, str]]):
    """Asyncio client; call it from one event loop."""

    def __init__(self, api_key: str, **options: Unpack[Options]) -> None:
        super().__init__(api_key, **options)
        self._transport = AioTransport(self.options)
        self._task: asyncio.Task[None] | None = None
        self._changed: asyncio.Condition | None = None
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._closing = False
        self._closed = False
        with self._cond:
            self._pipeline.open_spool()
        lifecycle.register(self)

    async def track(self, event: Event) -> str:
        """Queue an event; returns the id the server will see it under."""
        checked, raw = codec.checked(event)
        pipeline = self._pipeline
        if not self._closing and self.options.on_full == "block":
            with self._cond:
                full = not pipeline.has_room()
            if full:
                self._start_sender()
                await self._wait_until(pipeline.has_room, self.options.block_timeout)
        with self._cond:
            if self._closing or not pipeline.has_room():
                pipeline.drop()
                return checked.id
            pipeline.open_spool()
            event_id = pipeline.admit(checked, len(raw))
            due = pipeline.due(time.monotonic())
        self._start_sender()
        if due:
            self._signals()[1].set()
        return event_id

    # Same signature as ProgressClient.flush; the answer is a bool, never a TimeoutError.
    async def flush(self, timeout: float = 10.0) -> bool:  # noqa: ASYNC109
        """Send everything queued so far now; True once all of it is answered for, False if
        ``timeout`` seconds passed first (sending goes on in the background)."""
        with self._cond:
            target = self._pipeline.request_flush()
            if self._pipeline.settled_through() >= target:
                return True
        self._start_sender()
        self._signals()[1].set()
        return await self._wait_until(lambda: self._pipeline.settled_through() >= target, timeout)

    async def close(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 (as flush)
        """Flush for at most ``timeout`` (default ``shutdown_timeout``), then stop. Events still
        unsent go to ``on_error`` as ``ClientClosed`` — or stay in the spool for the next run."""
        if self._closing:
            return
        limit = self.options.shutdown_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        self._closing = True
        await self.flush(max(0.0, deadline - time.monotonic()))
        _, wake, stop = self._signals()
        stop.set()
        wake.set()
        if self._task is not None:
            done, _ = await asyncio.wait(
                {self._task}, timeout=max(0.0, deadline - time.monotonic())
            )
            if not done:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        await self._transport.close()
        self._finish_close()

    async def __aenter__(self) -> AsyncProgressClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _finish_close(self) -> None:
        with self._cond:
            report = self._pipeline.abandon_pending()
            self._closed = True
            self._pipeline.close_spool()
        self._report(report)

    # -- sender task -----------------------------------------------------------------------

    def _signals(self) -> tuple[asyncio.Condition, asyncio.Event, asyncio.Event]:
        # Made on first use so they bind to the loop the client is used from.
        if self._changed is None or self._wake is None or self._stop is None:
            self._changed, self._wake, self._stop = (
                asyncio.Condition(),
                asyncio.Event(),
                asyncio.Event(),
            )
        return self._changed, self._wake, self._stop

    def _start_sender(self) -> None:
        if (self._task is None or self._task.done()) and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="waymark-sender")

    async def _wait_until(self, done: Callable[[], bool], within: float) -> bool:
        changed = self._signals()[0]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, within)), changed:
                await changed.wait_for(lambda: self._locked(done))
        return self._locked(done)

    def _locked(self, predicate: Callable[[], bool]) -> bool:
        with self._cond:
            return predicate()

    async def _run(self) -> None:
        changed, wake, stop = self._signals()
        while (delivery := await self._next_batch(wake, stop)) is not None:
            try:
                outcome = await self._deliver(delivery, stop)
            except asyncio.CancelledError:
                # Cancelled mid-request (loop shutting down): the batch goes back unchanged,
                # for close(), the exit hook or the spool's next run.
                with self._cond:
                    self._pipeline.requeue_inflight()
                raise
            with self._cond:
                report = self._pipeline.settle(delivery, outcome, time.monotonic())
            async with changed:
                changed.notify_all()
            self._report(report)

    async def _next_batch(self, wake: asyncio.Event, stop: asyncio.Event) -> Delivery | None:
        while not stop.is_set():
            wake.clear()
            now = time.monotonic()
            with self._cond:
                delivery = self._pipeline.take(now)
                hint = self._pipeline.wait_hint(now)
                idle = not self._pipeline.queued()
            if delivery is not None:
                return delivery
            if self._closing and idle:
                return None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(hint):
                    await wake.wait()
        return None

    async def _deliver(self, delivery: Delivery, stop: asyncio.Event) -> Outcome:
        while True:
            body, headers = delivery.request(now_ms())
            try:
                answer = await self._transport.post(body, headers)
            except NETWORK_ERRORS as exc:
                step = delivery.network_error(exc, now=time.monotonic(), rand01=self._rand01())
            else:
                step = delivery.answered(
                    answer, now=time.monotonic(), now_epoch=time.time(), rand01=self._rand01()
                )
            if not isinstance(step, Retry):
                return step
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(step.delay):
                    await stop.wait()
            if stop.is_set():
                return delivery.give_up(ClientClosed("closed while retrying"))

    # -- process hooks ---------------------------------------------------------------------

    def _before_fork(self) -> None:
        self._cond.acquire()

    def _after_fork_in_parent(self) -> None:
        self._cond.release()

    def _after_fork_in_child(self) -> None:
        self._cond = threading.Condition(threading.RLock())
        self._pipeline.forget_after_fork()
        _inherited_after_fork.append(self._transport.forget())
        self._task, self._changed, self._wake, self._stop = None, None, None, None
        self._reseed_after_fork()

    def _at_exit(self) -> None:
        """Send what is left with blocking HTTP: the event loop that would have is gone."""
        if self._closed:
            return
        task = self._task
        if task is not None and not task.done():
            if not task.get_loop().is_closed():
                return  # the loop lives on in another thread; it still owns the sender
            with self._cond:
                self._pipeline.requeue_inflight()
        self._closing = True
        deadline = time.monotonic() + self.options.shutdown_timeout
        transport = HttpTransport(self.options)
        try:
            while time.monotonic() < deadline:
                with self._cond:
                    self._pipeline.request_flush()
                    delivery = self._pipeline.take(time.monotonic())
                if delivery is None:
                    break
                wait = blocking.sleep_before(deadline)
                outcome = blocking.deliver(delivery, transport, self._rand01, wait)
                with self._cond:
                    report = self._pipeline.settle(delivery, outcome, time.monotonic())
                self._report(report)
        finally:
            transport.close()
        self._finish_close()
