"""Exceptions of the client SDK: one root, a stable ``code`` on each class.

Callers branch on the class (or on ``code`` when the error crossed a process boundary),
never on the message text.
"""

from __future__ import annotations

from collections.abc import Sequence

from waymark_client.wire import Rejection


class WaymarkClientError(Exception):
    """Root of every error the SDK raises or hands to ``on_error``."""

    code = "client_error"


class InvalidEvent(WaymarkClientError, ValueError):
    """The event breaks the wire contract; raised at ``track()``, nothing is queued."""

    code = "invalid_event"


class EventTooLarge(InvalidEvent):
    """One encoded event is above the server's per-event limit."""

    code = "event_too_large"


class BatchRefused(WaymarkClientError):
    """The server refused the whole batch with a final 4xx; retrying cannot help."""

    code = "batch_refused"

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message


class EventsRejected(WaymarkClientError):
    """A 202 answer listed some events as invalid; they are reported, never retried."""

    code = "events_rejected"

    def __init__(self, rejections: Sequence[Rejection]) -> None:
        first = rejections[0] if rejections else None
        detail = f": {first.code} {first.message}" if first else ""
        super().__init__(f"{len(rejections)} event(s) rejected{detail}")
        self.rejections = list(rejections)


class DeliveryFailed(WaymarkClientError):
    """A batch could not be delivered within its retry budget (network errors, 5xx, 408, 429)."""

    code = "delivery_failed"

    def __init__(self, attempts: int, last_error: str) -> None:
        super().__init__(f"gave up after {attempts} attempt(s): {last_error}")
        self.attempts = attempts
        self.last_error = last_error


class ClientClosed(WaymarkClientError):
    """The client was closed (or the interpreter exited) before these events were delivered."""

    code = "client_closed"
