"""The chapter event log in SQL: appended by every apply, read back to recompute a chapter.

Rows are written in the apply transaction (one binary COPY per batch), so a batch that
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

_COLUMNS = ("user_id", "course_id", "chapter_id", "min_ts", "max_ts", "events")
_READ = """
SELECT k.user_id, k.course_id, k.chapter_id, l.events
FROM unnest($1::text[], $2::text[], $3::text[]) AS k(user_id, course_id, chapter_id)
CROSS JOIN LATERAL (  -- through the learner index, per key, whatever the log's size
    SELECT t.events FROM chapter_event_log t
    WHERE t.user_id = k.user_id AND t.course_id = k.course_id AND t.chapter_id = k.chapter_id
    OFFSET 0
) l
"""

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(list[TailEvent]).decode


async def append(conn: Conn, events: Mapping[ChapterKey, list[TailEvent]]) -> None:
    """Log the events of each chapter of one applied batch (part)."""
    rows = [(k, evs) for k, evs in sorted(events.items()) if evs]
    if not rows:
        return
    # binary COPY: no array parameters to build and check element by element
    await conn.copy_records_to_table("chapter_event_log", columns=_COLUMNS, records=[
        (*k, min(e.ts for e in evs), max(e.ts for e in evs), _encode(evs)) for k, evs in rows
    ])


async def read(conn: Conn, keys: list[ChapterKey]) -> dict[ChapterKey, list[TailEvent]]:
    """Every logged event of each chapter in ``keys``, in no particular order."""
    out: dict[ChapterKey, list[TailEvent]] = defaultdict(list)
    if keys:
        cols = [[k[i] for k in keys] for i in range(3)]
        for r in await conn.fetch(_READ, *cols):
            out[(r[0], r[1], r[2])].extend(_decode(r["events"]))
    return dict(out)
