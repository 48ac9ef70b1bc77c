"""Driving a ``Delivery`` from a thread that may block: the sender thread of
``ProgressClient``, and the interpreter-exit drain of ``AsyncProgressClient`` (whose event loop
is gone by then)."""

from __future__ import annotations

import time
from collections.abc import Callable

from .delivery import Delivery, Outcome, Retry
from .errors import ClientClosed
from .events import now_ms
from .transport import NETWORK_ERRORS, HttpTransport


def deliver(
    delivery: Delivery,
    transport: HttpTransport,
    rand01: Callable[[], float],
    wait: Callable[[float], bool],
) -> Outcome:
    """Send until the batch is answered for. ``wait(delay)`` sleeps between attempts and
    returns True when the caller wants to stop (closing, or past its deadline)."""
    while True:
        body, headers = delivery.request(now_ms())
        try:
            answer = transport.post(body, headers)
        except NETWORK_ERRORS as exc:
            step = delivery.network_error(exc, now=time.monotonic(), rand01=rand01())
        else:
            step = delivery.answered(
                answer, now=time.monotonic(), now_epoch=time.time(), rand01=rand01()
            )
        if not isinstance(step, Retry):
            return step
        if wait(step.delay):
            return delivery.give_up(ClientClosed("closed while retrying"))


def sleep_before(deadline: float) -> Callable[[float], bool]:
    """A ``wait`` that sleeps, or stops at once when the delay would cross ``deadline``."""

    def wait(delay: float) -> bool:
        if time.monotonic() + delay > deadline:
            return True
        time.sleep(delay)
        return False

    return wait
