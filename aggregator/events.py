"""Domain events and the transactional outbox they are written to.

Every event is appended in the transaction of the state change it describes, so it exists iff
the change was committed; ``workers.outbox`` relays committed rows to the Redis Stream.
"""

from __future__ import annotations

import uuid
from collections import Counter
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
INSERT INTO outbox (type, user_id, course_id, occurred_at, payload, event_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::jsonb[],
                     $6::uuid[])
"""
_IDS = uuid.UUID("6f1d8a52-3c0e-4d8b-9a57-57a1e4d2b0c1")
"""The namespace of the domain-event ids derived from the applied batch (``event_ids``)."""


def event_ids(part_id: str | None, events: Sequence[DomainEvent]) -> list[uuid.UUID]:
    """One id per event: derived from the batch part that produced it when there is one, so a
    batch applied again after a database restore (``waymark replay``) gives each of its domain
    events the id it had the first time; random otherwise.

    The name is the part id, the event's type, learner, course and time, and how many events
    with those four came before it in the batch (the order the apply step produces them in)."""
    if part_id is None:
        return [uuid.uuid4() for _ in events]
    seen: Counter[tuple[str, str, str, str]] = Counter()
    ids = []
    for e in events:
        what = (e.type, e.user_id, e.course_id, e.occurred_at.isoformat())
        ids.append(uuid.uuid5(_IDS, "|".join((part_id, *what, str(seen[what])))))
        seen[what] += 1
    return ids
_json = msgspec.json.Encoder()


async def append(
    conn: Conn, events: Sequence[DomainEvent], part_id: str | None = None
) -> int:
    """Write ``events`` to the outbox (in the caller's transaction); ``part_id``: the applied
    batch (part) they come from, which their ids are derived from (``event_ids``)."""
    if not events:
        return 0
    await conn.execute(
        _APPEND,
        [e.type for e in events],
        [e.user_id for e in events],
        [e.course_id for e in events],
        [e.occurred_at for e in events],
        [_json.encode(e.data).decode() for e in events],
        event_ids(part_id, events),
    )
    return len(events)
