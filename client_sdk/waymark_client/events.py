"""Builders for every event type, event ids and timestamps.

Ids are UUIDv7: time-ordered (so the server's indexes stay append-mostly) and random enough
that two processes never collide. Timestamps default to integer epoch milliseconds, which the
wire accepts and which cost far less to produce than a formatted datetime.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from waymark_client.wire import (
    ChapterCompleted,
    ChapterProgress,
    ChapterUncompleted,
    CourseReset,
    CourseViewed,
    Enrollment,
    QuizAttempt,
    QuizResponse,
)

Ts = int | datetime
"""Epoch milliseconds, or a timezone-aware datetime."""


_id_lock = threading.Lock()
_last_payload = 0
_fork_hook_installed = False


def _forget_last_payload() -> None:
    global _last_payload
    _last_payload = 0


def new_event_id() -> str:
    """A fresh UUIDv7 string (RFC 9562): 48-bit millisecond time, then 74 random bits.

    Ids grow strictly within a process (RFC 9562 §6.2, method 2: a draw at or below the last
    is replaced by last + 1), so on a tie of ``ts`` the server's "greater id wins" agrees with
    the order the events were queued in.
    """
    global _last_payload, _fork_hook_installed
    candidate = (time.time_ns() // 1_000_000) << 74 | int.from_bytes(os.urandom(10)) >> 6
    with _id_lock:
        if not _fork_hook_installed:
            # A child must not continue the parent's sequence: both would make the same ids.
            os.register_at_fork(after_in_child=_forget_last_payload)
            _fork_hook_installed = True
        payload = candidate if candidate > _last_payload else _last_payload + 1
        _last_payload = payload
    # 48 bits of time, version 7, 12 bits, variant 0b10, 62 bits.
    value = (payload >> 74) << 80 | 0x7 << 76 | ((payload >> 62) & 0xFFF) << 64
    value |= 0x2 << 62 | (payload & ((1 << 62) - 1))
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def now_ms() -> int:
    """The current time as wire epoch milliseconds."""
    return time.time_ns() // 1_000_000


def progress(
    user_id: str,
    course_id: str,
    chapter_id: str,
    progress: float,
    *,
    position_s: float | None = None,
    time_spent_s: float = 0.0,
    ts: Ts | None = None,
) -> ChapterProgress:
    """A ``chapter_progress`` event: percent of the chapter, resume point, seconds spent."""
    return ChapterProgress(
        id=new_event_id(),
        user_id=user_id,
        course_id=course_id,
        chapter_id=chapter_id,
        progress=progress,
        position_s=position_s,
        time_spent_s=time_spent_s,
        ts=now_ms() if ts is None else ts,
    )


def complete(
    user_id: str,
    course_id: str,
    chapter_id: str,
    *,
    time_spent_s: float = 0.0,
    ts: Ts | None = None,
) -> ChapterCompleted:
    """A ``chapter_completed`` event."""
    return ChapterCompleted(
        id=new_event_id(),
        user_id=user_id,
        course_id=course_id,
        chapter_id=chapter_id,
        time_spent_s=time_spent_s,
        ts=now_ms() if ts is None else ts,
    )


def uncomplete(
    user_id: str, course_id: str, chapter_id: str, *, ts: Ts | None = None
) -> ChapterUncompleted:
    """A ``chapter_uncompleted`` event: the learner unticks a chapter."""
    return ChapterUncompleted(
        id=new_event_id(),
        user_id=user_id,
        course_id=course_id,
        chapter_id=chapter_id,
        ts=now_ms() if ts is None else ts,
    )


def quiz_attempt(
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
) -> QuizAttempt:
    """A ``quiz_attempt`` event; ``passed`` left out lets the server judge it."""
    return QuizAttempt(
        id=new_event_id(),
        user_id=user_id,
        course_id=course_id,
        quiz_id=quiz_id,
        attempt_id=attempt_id,
        score=score,
        max_score=max_score,
        passed=passed,
        duration_s=duration_s,
        chapter_id=chapter_id,
        responses=list(responses),
        ts=now_ms() if ts is None else ts,
    )


def enrollment(
    user_id: str,
    course_id: str,
    status: Literal["enrolled", "paused", "dropped"],
    *,
    ts: Ts | None = None,
) -> Enrollment:
    """An ``enrollment`` event."""
    return Enrollment(
        id=new_event_id(),
        user_id=user_id,
        course_id=course_id,
        status=status,
        ts=now_ms() if ts is None else ts,
    )


def reset(user_id: str, course_id: str, *, ts: Ts | None = None) -> CourseReset:
    """A ``course_reset`` event: earlier events of this course stop counting."""
    return CourseReset(
        id=new_event_id(), user_id=user_id, course_id=course_id, ts=now_ms() if ts is None else ts
    )


def viewed(
    user_id: str, course_id: str, chapter_id: str | None = None, *, ts: Ts | None = None
) -> CourseViewed:
    """A ``course_viewed`` event: the course (or a chapter) was opened without progress."""
    return CourseViewed(
        id=new_event_id(),
        user_id=user_id,
        course_id=course_id,
        chapter_id=chapter_id,
        ts=now_ms() if ts is None else ts,
    )
