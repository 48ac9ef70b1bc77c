"""Waymark client SDK: send learning-progress events to ``POST /v1/events`` reliably.

``ProgressClient`` (threads) and ``AsyncProgressClient`` (asyncio) share one core: queue,
client-side merge, batching, retries, spool. The wire types come from ``waymark_client.wire``.
"""

from typing import TYPE_CHECKING

from waymark_client.wire import (
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
from .tokens import mint_user_token

if TYPE_CHECKING:
    from .aio_client import AsyncProgressClient


def __getattr__(name: str) -> object:
    # aiohttp is an optional extra: only the async client needs it, so it loads on first use.
    if name == "AsyncProgressClient":
        from .aio_client import AsyncProgressClient

        return AsyncProgressClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AsyncProgressClient",
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
    "mint_user_token",
    "new_event_id",
    "now_ms",
]
