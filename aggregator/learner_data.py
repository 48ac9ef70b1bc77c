"""Every table that holds a learner's data, declared once: how to export it and how to erase it.

The learner export (``aggregator.learner_export``) and the erasure (``erase``) both walk
``LEARNER_TABLES``; a test reads PostgreSQL's catalog after the migrations and fails when a table
with a ``user_id`` column is missing here, so a new table cannot be forgotten by either.

Each export section shows rows the way the read API shows them (same field names and values),
so an export can be checked against the API field for field. Merge state kept for the workers
(``state`` columns, ``log_complete``) is internal bookkeeping derived from the same events and is
not exported; the events themselves are (``chapter_events``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg
import msgspec

from aggregator.db import Conn
from aggregator.queries import DayActivity, summary_view
from aggregator.read import chapter_view, rollup_fields
from buffer.fold import TailEvent

Record = dict[str, Any]
Shape = Callable[[asyncpg.Record, date], Iterator[object]]

_events = msgspec.msgpack.Decoder(list[TailEvent]).decode


@dataclass(frozen=True, slots=True)
class LearnerTable:
    """One table holding learner data, keyed by its ``user_id`` column."""

    table: str
    section: str
    """The export's name for these rows; empty: not exported (see ``note``)."""
    select: str = ""
    """The learner's rows (``$1`` the user id), in a stable order."""
    shape: Shape | None = None
    """The export records of one row, given the day of the export."""
    erase: str | None = None
    """How the erasure removes the learner's rows; None: kept (see ``note``)."""
    note: str = ""


def _course(r: asyncpg.Record, today: date) -> Iterator[Record]:
    yield rollup_fields(r)


def _chapter(r: asyncpg.Record, today: date) -> Iterator[Record]:
    yield {"course_id": r["course_id"], **msgspec.structs.asdict(chapter_view(r["chapter_id"], r))}


def _document(r: asyncpg.Record, today: date) -> Iterator[object]:
    """A row selected as ``to_jsonb(t) - 'user_id' AS doc``: every column, JSON-typed."""
    yield msgspec.Raw(r["doc"].encode())


def _summary(r: asyncpg.Record, today: date) -> Iterator[Record]:
    yield msgspec.structs.asdict(summary_view(r, today))


def _day(r: asyncpg.Record, today: date) -> Iterator[Record]:
    yield msgspec.structs.asdict(
        DayActivity(day=r["day"], time_spent_s=r["time_spent_ms"] / 1000, events=r["events"])
    )


_KINDS = {"P": "progress", "C": "completing", "U": "uncompleted", "V": "viewed"}


def _chapter_events(r: asyncpg.Record, today: date) -> Iterator[Record]:
    for e in sorted(_events(r["events"]), key=lambda e: (e.ts, e.id)):
        yield {
            "course_id": r["course_id"], "chapter_id": r["chapter_id"], "event_id": e.id,
            "ts_ms": e.ts, "kind": _KINDS.get(e.kind, e.kind),
            "progress": None if e.progress < 0 else e.progress,
            "time_spent_s": e.time_ms / 1000,
            "position_s": None if e.position_s < 0 else e.position_s,
        }


def _domain_event(r: asyncpg.Record, today: date) -> Iterator[Record]:
    yield {"event_id": r["event_id"], "type": r["type"], "course_id": r["course_id"],
           "occurred_at": r["occurred_at"], "data": msgspec.Raw(r["payload"].encode())}


def _session(r: asyncpg.Record, today: date) -> Iterator[Record]:
    yield {"started_ms": r["started_ms"], "ended_ms": r["ended_ms"], "events": r["events"],
           "time_spent_s": r["time_spent_ms"] / 1000,
           "touched": msgspec.msgpack.decode(r["touched"])}


def _rows_of(table: str, order: str) -> str:
    """The learner's rows of ``table`` as whole JSON documents (new columns included)."""
    return (f"SELECT to_jsonb(t) - 'user_id' - 'state' AS doc FROM {table} t"  # noqa: S608
            f" WHERE user_id = $1 ORDER BY {order}")


def _delete(table: str) -> str:
    return f"DELETE FROM {table} WHERE user_id = $1"  # noqa: S608 -- a registry constant


def _whole_rows(table: str, section: str, order: str) -> LearnerTable:
    """A table exported as whole JSON documents in ``order`` and erased by ``user_id``."""
    return LearnerTable(table, section, _rows_of(table, order), _document, _delete(table))


LEARNER_TABLES: tuple[LearnerTable, ...] = (
    LearnerTable(
        "course_progress", "courses",
        "SELECT * FROM course_progress WHERE user_id = $1 ORDER BY course_id",
        _course, _delete("course_progress"),
    ),
    LearnerTable(
        "chapter_progress", "chapters",
        "SELECT * FROM chapter_progress WHERE user_id = $1 ORDER BY course_id, chapter_id",
        _chapter, _delete("chapter_progress"),
    ),
    _whole_rows("quiz_summary", "quiz_summaries", "course_id, quiz_id"),
    _whole_rows("quiz_attempts", "quiz_attempts", "ts, attempt_id"),
    LearnerTable(
        "user_summary", "summary",
        "SELECT * FROM user_summary WHERE user_id = $1", _summary, _delete("user_summary"),
    ),
    LearnerTable(
        "daily_activity", "activity",
        "SELECT * FROM daily_activity WHERE user_id = $1 ORDER BY day",
        _day, _delete("daily_activity"),
    ),
    _whole_rows("path_progress", "path_progress", "path_id"),
    LearnerTable(
        "chapter_event_log", "chapter_events",
        "SELECT course_id, chapter_id, events FROM chapter_event_log WHERE user_id = $1"
        " ORDER BY course_id, chapter_id, min_ts",
        _chapter_events, _delete("chapter_event_log"),
    ),
    LearnerTable(
        "outbox", "domain_events",
        "SELECT event_id::text AS event_id, type, course_id, occurred_at, payload::text AS payload"
        " FROM outbox WHERE user_id = $1 AND type <> 'user.erased' ORDER BY seq",
        _domain_event, "DELETE FROM outbox WHERE user_id = $1 AND type <> 'user.erased'",
        note="the user.erased event of an erasure stays until relayed and pruned",
    ),
    LearnerTable(
        "learner_sessions", "sessions",
        "SELECT * FROM learner_sessions WHERE user_id = $1 ORDER BY started_ms",
        _session, _delete("learner_sessions"),
    ),
    _whole_rows("course_activity_days", "course_activity_days", "course_id, day"),
    _whole_rows("enrollment_history", "enrollments", "course_id, ts, event_id"),
    _whole_rows("course_reset_history", "course_resets", "course_id, ts, event_id"),
    _whole_rows("learner_milestones", "milestones", "kind, course_id, item_id"),
    _whole_rows("achievement_awards", "achievements", "awarded_ts, achievement_id"),
    _whole_rows("points_ledger", "points", "occurred_at, entry_id"),
    _whole_rows("points_totals", "points_totals", "scope, period"),
    _whole_rows("learner_preferences", "preferences", "user_id"),
    _whole_rows("certificates", "certificates", "issued_at, certificate_id"),
    LearnerTable(
        "erased_users", "",
        note="the tombstone of an erased learner (user_id, erased_at): kept for good",
    ),
)


def exported() -> list[LearnerTable]:
    return [t for t in LEARNER_TABLES if t.section]


async def holds_learner(conn: Conn, user_id: str) -> bool:
    """Whether any exported table has a row of ``user_id`` (the tombstone does not count)."""
    checks = " OR ".join(f"EXISTS ({t.select})" for t in exported())
    return bool(await conn.fetchval(f"SELECT {checks}", user_id))


async def erase(conn: Conn, user_id: str) -> dict[str, int]:
    """Delete the learner's rows from every table that does not keep them; rows per table."""
    out = {}
    for t in LEARNER_TABLES:
        if t.erase is not None:
            status = await conn.execute(t.erase, user_id)
            out[t.table] = int(status.split()[-1])
    return out
