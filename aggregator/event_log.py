"""The chapter event log in SQL: appended by every apply, read back to recompute a chapter.

Rows are written in the apply transaction (one multi-row statement per batch), so a batch that
is applied once is logged once; a re-delivered batch is stopped by the ledger before it gets
here. See ``migrations/010_chapter_event_log.sql`` for the layout.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import msgspec

from aggregator.db import Conn
from buffer.fold import TailEvent

ChapterKey = tuple[str, str, str]

_APPEND = """
INSERT INTO chapter_event_log (user_id, course_id, chapter_id, min_ts, max_ts, events)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::bytea[])
"""
_READ = """
WITH k AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
           AS k(user_id, course_id, chapter_id))
SELECT l.user_id, l.course_id, l.chapter_id, l.events
FROM chapter_event_log l JOIN k USING (user_id, course_id, chapter_id)
"""

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(list[TailEvent]).decode


async def append(conn: Conn, events: Mapping[ChapterKey, list[TailEvent]]) -> None:
    """Log the events of each chapter of one applied batch (part)."""
    rows = [(k, evs) for k, evs in sorted(events.items()) if evs]
    if not rows:
        return
    await conn.execute(
        _APPEND,
        [k[0] for k, _ in rows], [k[1] for k, _ in rows], [k[2] for k, _ in rows],
        [min(e.ts for e in evs) for _, evs in rows],
        [max(e.ts for e in evs) for _, evs in rows],
        [_encode(evs) for _, evs in rows],
    )


async def read(conn: Conn, keys: list[ChapterKey]) -> dict[ChapterKey, list[TailEvent]]:
    """Every logged event of each chapter in ``keys``, in no particular order."""
    out: dict[ChapterKey, list[TailEvent]] = defaultdict(list)
    if keys:
        cols = [[k[i] for k in keys] for i in range(3)]
        for r in await conn.fetch(_READ, *cols):
            out[(r[0], r[1], r[2])].extend(_decode(r["events"]))
    return dict(out)
