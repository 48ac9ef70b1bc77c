"""The wire contract of ``POST /v1/events`` as msgspec types.

This module depends on msgspec only, so the client SDK can ship it without the server.
The server decodes the batch envelope first (events kept as raw bytes), then every event on
its own, so one bad event is rejected by index and never fails the batch.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import msgspec

ID_PATTERN = r"^[A-Za-z0-9._:@/+=\-]{1,128}$"
"""Ids of users, courses, chapters, quizzes, attempts and modules."""

Id = Annotated[str, msgspec.Meta(pattern=ID_PATTERN, min_length=1, max_length=128)]
EventId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
SourceId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Timestamp = int | Annotated[datetime, msgspec.Meta(tz=True)]
"""RFC 3339 with an offset, or integer epoch milliseconds."""

FINITE = sys.float_info.max
"""Upper bound of unbounded numbers: refuses only infinity (msgpack can carry it, JSON cannot)."""
MAX_SEQ = 2**53
"""Exact in a double (Redis's Lua) and in a msgpack integer."""

Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]
Seconds = Annotated[float, msgspec.Meta(ge=0, le=FINITE)]
TimeSpent = Annotated[float, msgspec.Meta(ge=0, le=3600)]
Score = Annotated[float, msgspec.Meta(ge=0, le=FINITE)]
MaxScore = Annotated[float, msgspec.Meta(gt=0, le=FINITE)]
Seq = Annotated[int, msgspec.Meta(ge=1, le=MAX_SEQ)]

MAX_RESPONSES = 500
MAX_ANSWER_IDS = 50
MAX_RESPONSE_TEXT = 4096


class _Event(
    msgspec.Struct,
    tag_field="type",
    forbid_unknown_fields=True,
    omit_defaults=True,
    kw_only=True,
):
    """Fields common to every event type."""

    id: EventId
    user_id: Id
    course_id: Id
    ts: Timestamp
    source_id: SourceId | None = None
    seq: Seq | None = None


class ChapterProgress(_Event, tag="chapter_progress"):
    chapter_id: Id
    progress: Percent
    position_s: Seconds | None = None
    time_spent_s: TimeSpent = 0.0


class ChapterCompleted(_Event, tag="chapter_completed"):
    chapter_id: Id
    time_spent_s: TimeSpent = 0.0


class ChapterUncompleted(_Event, tag="chapter_uncompleted"):
    chapter_id: Id


class QuizResponse(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    question_id: Id
    answer_ids: Annotated[list[Id], msgspec.Meta(max_length=MAX_ANSWER_IDS)] = []
    text: Annotated[str, msgspec.Meta(max_length=MAX_RESPONSE_TEXT)] | None = None
    correct: bool | None = None
    time_s: Seconds | None = None


class QuizAttempt(_Event, tag="quiz_attempt"):
    quiz_id: Id
    attempt_id: Id
    score: Score
    max_score: MaxScore
    passed: bool | None = None
    duration_s: Seconds | None = None
    chapter_id: Id | None = None
    responses: Annotated[list[QuizResponse], msgspec.Meta(max_length=MAX_RESPONSES)] = []


class Enrollment(_Event, tag="enrollment"):
    status: Literal["enrolled", "paused", "dropped"]
    path_id: Id | None = None
    """The learning path the learner enrolled through; the course must be one of its courses."""


class CourseReset(_Event, tag="course_reset"):
    pass


class CourseViewed(_Event, tag="course_viewed"):
    chapter_id: Id | None = None


Event = (
    ChapterProgress
    | ChapterCompleted
    | ChapterUncompleted
    | QuizAttempt
    | Enrollment
    | CourseReset
    | CourseViewed
)
EVENT_TYPES: tuple[type[_Event], ...] = (
    ChapterProgress,
    ChapterCompleted,
    ChapterUncompleted,
    QuizAttempt,
    Enrollment,
    CourseReset,
    CourseViewed,
)


class Batch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """A batch as a client builds it."""

    events: list[Event]
    sent_at: Timestamp | None = None


class RawBatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The envelope as the server first decodes it: each event stays raw for its own decode."""

    events: list[msgspec.Raw]
    sent_at: Timestamp | None = None


class Rejection(msgspec.Struct, kw_only=True):
    index: int
    code: str
    message: str


class BatchResult(msgspec.Struct, kw_only=True):
    """Body of a 202 answer."""

    accepted: int
    duplicates: int
    rejected: list[Rejection]


class ErrorDetail(msgspec.Struct, kw_only=True):
    code: str
    message: str


class ErrorBody(msgspec.Struct, kw_only=True):
    """Body of every 4xx/5xx answer."""

    error: ErrorDetail


def to_epoch_ms(ts: Timestamp) -> int:
    """Epoch milliseconds of a wire timestamp."""
    if isinstance(ts, int):
        return ts
    return (ts - _EPOCH) // _MILLISECOND


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
