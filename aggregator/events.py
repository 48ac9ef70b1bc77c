"""Domain events and the transactional outbox they are written to.

Every event is appended in the transaction of the state change it describes, so it exists iff
the change was committed; ``workers.outbox`` relays committed rows to the Redis Stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from aggregator.db import Conn

EVENTS_STREAM = "waymark:events"
"""The Redis Stream the outbox is relayed to."""

TYPES = (
    "chapter.completed",
    "chapter.uncompleted",
    "course.progressed",
    "course.completed",
    "quiz.passed",
    "quiz.failed",
    "enrollment.changed",
    "course.reset",
    "module.completed",
    "chapter.unlocked",
    "path.progressed",
    "path.completed",
    "achievement.awarded",
    "certificate.issued",
)


class DomainEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One state change; ``data`` holds the new values (documented per type in docs/api.md)."""

    type: str
    user_id: str
    course_id: str
    occurred_at: datetime
    data: dict[str, Any]


class StreamEvent(msgspec.Struct, kw_only=True):
    """What a consumer reads from the stream (fields of the entry, JSON in ``data``)."""

    event_id: str
    type: str
    user_id: str
    course_id: str
    occurred_at: datetime
    data: dict[str, Any]


_APPEND = """
INSERT INTO outbox (type, user_id, course_id, occurred_at, payload)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::jsonb[])
"""
_json = msgspec.json.Encoder()


async def append(conn: Conn, events: Sequence[DomainEvent]) -> int:
    """Write ``events`` to the outbox (in the caller's transaction)."""
    if not events:
        return 0
    await conn.execute(
        _APPEND,
        [e.type for e in events],
        [e.user_id for e in events],
        [e.course_id for e in events],
        [e.occurred_at for e in events],
        [_json.encode(e.data).decode() for e in events],
    )
    return len(events)
