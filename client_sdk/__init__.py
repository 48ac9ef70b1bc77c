"""Waymark client SDK: send learning-progress events to ``POST /v1/events`` reliably.

``ProgressClient`` (threads) and ``AsyncProgressClient`` (asyncio) share one core: queue,
client-side merge, batching, retries, spool. The wire types come from ``waymark.wire``.
"""

from waymark.wire import (
    ChapterCompleted,
    ChapterProgress,
    ChapterUncompleted,
    CourseReset,
    CourseViewed,
    Enrollment,
    Event,
    QuizAttempt,
    QuizResponse,
)

from .client import ProgressClient
from .errors import (
    BatchRefused,
    ClientClosed,
    DeliveryFailed,
    EventsRejected,
    EventTooLarge,
    InvalidEvent,
    WaymarkClientError,
)
from .events import new_event_id, now_ms
from .options import ClientOptions
from .pipeline import ClientStats
from .spool import SpoolError

__all__ = [
    "BatchRefused",
    "ChapterCompleted",
    "ChapterProgress",
    "ChapterUncompleted",
    "ClientClosed",
    "ClientOptions",
    "ClientStats",
    "CourseReset",
    "CourseViewed",
    "DeliveryFailed",
    "Enrollment",
    "Event",
    "EventTooLarge",
    "EventsRejected",
    "InvalidEvent",
    "ProgressClient",
    "QuizAttempt",
    "QuizResponse",
    "SpoolError",
    "WaymarkClientError",
    "new_event_id",
    "now_ms",
]
