"""A learner's export, streamed: every table of ``aggregator.learner_data``, section by section.

The rows are read in one read-only ``REPEATABLE READ`` transaction (one snapshot: the sections
agree with each other) through server-side cursors, ``PREFETCH`` rows at a time, and encoded as
they come, so memory stays bounded whatever the learner's history.

Formats: ``json`` is one document ``{"user_id", "exported_at", "format", "sections": {name:
[record, ...]}}``; ``ndjson`` is a header line ``{"section": "export", "data": {...}}`` and one
line ``{"section": name, "data": record}`` per record.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import msgspec

from aggregator.db import Conn
from aggregator.learner_data import LearnerTable, exported

EXPORT_FORMAT = 1
PREFETCH = 500
FORMATS = ("json", "ndjson")

_encode = msgspec.json.Encoder().encode


class LearnerExport(msgspec.Struct, kw_only=True):
    """The ``json`` form of an export (what the API reference documents)."""

    user_id: str
    exported_at: datetime
    format: int
    sections: dict[str, list[dict[str, Any]]]
    """By name: courses, chapters, quiz_summaries, quiz_attempts, summary, activity,
    chapter_events, domain_events (and any section a newer table adds)."""


def _header(user_id: str, at: datetime) -> dict[str, object]:
    return {"user_id": user_id, "exported_at": at, "format": EXPORT_FORMAT,
            "sections": [t.section for t in exported()]}


async def _records(conn: Conn, t: LearnerTable, user_id: str, at: datetime) -> AsyncIterator[bytes]:
    assert t.shape is not None
    async for row in conn.cursor(t.select, user_id, prefetch=PREFETCH):
        for record in t.shape(row, at.date()):
            yield _encode(record)


async def export_chunks(
    conn: Conn, user_id: str, fmt: str, at: datetime
) -> AsyncIterator[bytes]:
    """The export of ``user_id`` in ``fmt``, piece by piece (run inside a transaction)."""
    if fmt == "ndjson":
        yield _encode({"section": "export", "data": _header(user_id, at)}) + b"\n"
        for t in exported():
            prefix = b'{"section":' + _encode(t.section) + b',"data":'
            async for rec in _records(conn, t, user_id, at):
                yield prefix + rec + b"}\n"
        return
    head = _encode({k: v for k, v in _header(user_id, at).items() if k != "sections"})
    yield head[:-1] + b',"sections":{'
    for i, t in enumerate(exported()):
        yield (b"," if i else b"") + _encode(t.section) + b":["
        first = True
        async for rec in _records(conn, t, user_id, at):
            yield rec if first else b"," + rec
            first = False
        yield b"]"
    yield b"}}\n"
