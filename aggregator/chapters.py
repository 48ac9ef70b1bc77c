"""Chapter rows in the apply transaction: log the batch's events, merge, recompute when needed.

For each chapter of the batch (and each chapter of a (user, course) whose reset moved), in key
order: the row is locked if it exists (one the batch creates is written once, by an insert of
its merged values); the batch's events are appended to the chapter event log; the incoming
events at or before the course's reset are dropped; then the stored state and the incoming one
are merged with ``buffer.fold`` — the fast path — unless the merge would lean on folded history
(``needs_rebuild``: a reset among folded events, a completion or uncomplete older than them).
Such a chapter is recomputed from every event of its log, exactly.
A row whose log is not complete (created before the log existed, or fed by a buffer entry that
had to fold events it could not pass on) is merged as before.

A quiz's chapter also holds the quiz's one derived completing fact (its earliest counted passing
attempt, kept in ``quiz_summary`` by ``aggregator.quizzes``), which is not in the log: every
recompute adds the chapter's current facts to its logged events, and a chapter whose facts moved
(``refacted``) is recomputed — or, without a complete log, merged with its new facts.

A row whose log is complete keeps only its ``STORED_TAIL_LIMIT`` latest events unfolded (the
buffer's entries keep ``TAIL_LIMIT``): every older event is in the log, so a late completion
before them is recomputed from it exactly, and the row — rewritten on every batch — stays narrow
enough for its updates to stay on their page as the chapter's history grows.

``has_fact`` records, for good, that the chapter got an event other than an uncomplete (the
visibility rule of ``aggregator.enrollment_rules``; a new row starts without one).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec

from aggregator import event_log
from aggregator.catalog_rules import ChapterRule
from aggregator.db import Conn
from aggregator.enrollment_rules import chapter_has_fact
from aggregator.events import DomainEvent
from aggregator.requirements import (
    NO_RULES,
    after_reset,
    decide,
    load_rules,
    needs_history,
    score_facts,
    takes_quiz_facts,
)
from buffer.fold import (
    COMPLETING,
    NONE_TS,
    TAIL_LIMIT,
    Base,
    ChapterState,
    ChapterSummary,
    TailEvent,
    merge_chapter,
    needs_rebuild,
    rebuild_chapter,
    summarize_chapter,
    trim_chapter,
)

Pair = tuple[str, str]
ChapterKey = tuple[str, str, str]

STORED_TAIL_LIMIT = 4
"""Unfolded events kept in a chapter row whose log is complete (a late completion among them
merges without reading the log)."""

_INSERT_CHAPTERS = """
INSERT INTO chapter_progress AS t (user_id, course_id, chapter_id, progress, completed,
    completed_at, position_s, time_spent_ms, first_activity_at, last_activity_at, state,
    log_complete, has_fact)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::bool[],
                     $6::timestamptz[], $7::float8[], $8::int8[], $9::timestamptz[],
                     $10::timestamptz[], $11::bytea[], $12::bool[], $13::bool[])
ORDER BY 1, 2, 3
ON CONFLICT DO NOTHING
RETURNING t.user_id, t.course_id, t.chapter_id
"""
# The locks read each key through the primary key (a LATERAL subquery per key, taken in the
# sorted order of the keys passed): a join could be planned, and its plan cached, as a scan of
# the whole table while the table was new and small, and such a scan grows with the table.
_LOCK_CHAPTERS = """
SELECT cp.user_id, cp.course_id, cp.chapter_id, cp.state, cp.completed, cp.log_complete,
       cp.has_fact
FROM unnest($1::text[], $2::text[], $3::text[]) AS k(user_id, course_id, chapter_id)
CROSS JOIN LATERAL (
    SELECT * FROM chapter_progress t
    WHERE t.user_id = k.user_id AND t.course_id = k.course_id AND t.chapter_id = k.chapter_id
    FOR UPDATE
) cp
"""
_LOCK_RESET_CHAPTERS = """
SELECT cp.user_id, cp.course_id, cp.chapter_id, cp.state, cp.completed, cp.log_complete,
       cp.has_fact
FROM unnest($1::text[], $2::text[]) AS k(user_id, course_id)
CROSS JOIN LATERAL (
    SELECT * FROM chapter_progress t
    WHERE t.user_id = k.user_id AND t.course_id = k.course_id
    ORDER BY t.chapter_id FOR UPDATE
) cp
"""
_UPDATE_CHAPTERS = """
UPDATE chapter_progress t SET progress = u.progress, completed = u.completed,
    completed_at = u.completed_at, position_s = u.position_s, time_spent_ms = u.time_ms,
    first_activity_at = u.first_at, last_activity_at = u.last_at, state = u.state,
    log_complete = u.log_complete, has_fact = u.has_fact, updated_at = now()
FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::bool[], $6::timestamptz[],
            $7::float8[], $8::int8[], $9::timestamptz[], $10::timestamptz[], $11::bytea[],
            $12::bool[], $13::bool[])
     AS u(user_id, course_id, chapter_id, progress, completed, completed_at, position_s,
          time_ms, first_at, last_at, state, log_complete, has_fact)
WHERE t.user_id = u.user_id AND t.course_id = u.course_id AND t.chapter_id = u.chapter_id
"""

_FACTS = """
SELECT s.user_id, s.course_id, s.fact_chapter_id, s.fact_ts, s.fact_event_id
FROM quiz_summary s
JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(user_id, course_id, chapter_id)
  ON s.user_id = k.user_id AND s.course_id = k.course_id AND s.fact_chapter_id = k.chapter_id
"""

_encode = msgspec.msgpack.Encoder().encode
_decode_state = msgspec.msgpack.Decoder(ChapterState).decode


def ms_to_dt(ms: int | None) -> datetime | None:
    if ms is None or ms == NONE_TS:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC)


class _Row:
    """A locked chapter row as stored (or, for a row this batch creates, as it starts)."""

    __slots__ = ("completed", "has_fact", "log_complete", "state")

    def __init__(self, state: ChapterState, completed: bool, log_complete: bool,
                 has_fact: bool) -> None:
        self.state = state
        self.completed = completed
        self.log_complete = log_complete
        self.has_fact = has_fact

    @classmethod
    def stored(cls, r: Any) -> _Row:
        state = ChapterState() if r["state"] is None else _decode_state(r["state"])
        return cls(state, r["completed"], r["log_complete"], r["has_fact"])

    @classmethod
    def fresh(cls) -> _Row:
        """A row created by this batch: every event it holds is in the log from the start."""
        return cls(ChapterState(), False, True, False)


_Out = tuple[Any, ...]
"""A chapter row as written: the key, then the twelve values of ``_UPDATE_CHAPTERS``."""


async def apply_chapters(
    conn: Conn,
    incoming: dict[ChapterKey, ChapterState],
    resets: dict[Pair, tuple[int, bool]],
    events: list[DomainEvent],
    refacted: Iterable[ChapterKey] = (),
) -> None:
    """Merge the batch's chapter states into their rows (see module docstring).

    Rows that exist are locked and updated; a row the batch creates is written once, by an
    insert of its merged values. Should another transaction have created one of those rows
    since the lock (its insert then waits for that one to commit and skips the row), the row
    is locked and merged again like any stored row.
    """
    refacted = set(refacted)
    keys = sorted(set(incoming) | refacted)
    rows = await _lock(conn, _LOCK_CHAPTERS, [[k[i] for k in keys] for i in range(3)])
    if incoming:
        await event_log.append(conn, {k: incoming[k].tail for k in sorted(incoming)})
    moved = sorted(p for p, (_, changed) in resets.items() if changed)
    if moved:
        found = await _lock(conn, _LOCK_RESET_CHAPTERS, [[p[0] for p in moved],
                                                         [p[1] for p in moved]])
        rows = found | rows
    created = {k for k in keys if k not in rows}
    rows.update((k, _Row.fresh()) for k in created)
    # read after the rows are locked: a catalog stored since is recomputed after this commits
    course_rules = await load_rules(conn, {k[1] for k in rows})
    rule = {k: course_rules.get(k[1], NO_RULES).of(k[2]) for k in rows}
    out = await _merge_rows(conn, rows, incoming, resets, refacted, rule)
    if created:
        fresh = [out[k] for k in sorted(created)]
        inserted = {(r[0], r[1], r[2]) for r in await conn.fetch(
            _INSERT_CHAPTERS, *[[o[0][i] for o in fresh] for i in range(3)],
            *[[o[0][i] for o in fresh] for i in range(3, 13)])}
        raced = created - inserted
        if raced:
            again = await _lock(conn, _LOCK_CHAPTERS,
                                [[k[i] for k in sorted(raced)] for i in range(3)])
            out.update(await _merge_rows(conn, again, incoming, resets, refacted, rule))
        created = inserted
    events.extend(e for _, e in (out[k] for k in sorted(out)) if e is not None)
    update = [out[k][0] for k in sorted(out) if k not in created]
    if update:
        await conn.execute(_UPDATE_CHAPTERS, *[[r[i] for r in update] for i in range(13)])


async def _lock(conn: Conn, query: str, cols: list[list[str]]) -> dict[ChapterKey, _Row]:
    if not cols[0]:
        return {}
    return {(r[0], r[1], r[2]): _Row.stored(r) for r in await conn.fetch(query, *cols)}


async def _merge_rows(
    conn: Conn,
    rows: dict[ChapterKey, _Row],
    incoming: dict[ChapterKey, ChapterState],
    resets: dict[Pair, tuple[int, bool]],
    refacted: set[ChapterKey],
    rule: dict[ChapterKey, ChapterRule],
) -> dict[ChapterKey, tuple[_Out, DomainEvent | None]]:
    """Each row's merged values, and its completion event when the row's completion flips."""
    merged: dict[ChapterKey, ChapterState] = {}
    complete: dict[ChapterKey, bool] = {}
    rebuild: list[ChapterKey] = []
    for key in sorted(rows):
        row, reset_ts = rows[key], resets.get((key[0], key[1]), (NONE_TS, False))[0]
        new = incoming.get(key)
        if new is not None:
            new = trim_chapter(ChapterState(new.base, decide(new.tail, rule[key])), reset_ts)
        complete[key] = row.log_complete and (new is None or new.base.empty)
        if complete[key] and (key in refacted or needs_history(rule[key])
                              or needs_rebuild(row.state, new, reset_ts)):
            rebuild.append(key)
            continue
        # trimmed before merging: the merge folds the oldest of the two tails into the base,
        # and a base that ends after the reset would keep the events at or before it
        state = trim_chapter(row.state, reset_ts)
        limit = STORED_TAIL_LIMIT if complete[key] else TAIL_LIMIT
        merged[key] = state if new is None else merge_chapter(state, new, limit)
    facts = {k: f for k, f in (await _facts(conn, sorted(refacted & rows.keys()
                                                         | set(rebuild)))).items()
             if takes_quiz_facts(rule[k])}
    for key in refacted - set(rebuild):
        if key in merged:  # no complete log: the new facts are added, a withdrawn one stays
            merged[key] = merge_chapter(merged[key], ChapterState(Base(), facts.get(key, [])))
    if rebuild:
        logged = await event_log.read(conn, rebuild)
        scored = await score_facts(conn, {k: rule[k] for k in rebuild})
        for key in rebuild:
            reset_ts = resets.get((key[0], key[1]), (NONE_TS, False))[0]
            history = decide(after_reset(logged.get(key, []) + facts.get(key, []), reset_ts),
                             rule[key])
            merged[key] = rebuild_chapter(history + scored.get(key, []), reset_ts,
                                          STORED_TAIL_LIMIT)
    out: dict[ChapterKey, tuple[_Out, DomainEvent | None]] = {}
    for key, state in merged.items():
        new = incoming.get(key)
        has_fact = (rows[key].has_fact or bool(facts.get(key))
                    or (new is not None and chapter_has_fact(new)))
        s = summarize_chapter(state)
        out[key] = ((
            *key, s.progress, s.completed, ms_to_dt(s.completed_at), s.position_s, s.time_ms,
            ms_to_dt(s.first_ts), ms_to_dt(s.last_ts), _encode(state), complete[key], has_fact,
        ), _chapter_event(key, s) if s.completed != rows[key].completed else None)
    return out


async def _facts(conn: Conn, keys: list[ChapterKey]) -> dict[ChapterKey, list[TailEvent]]:
    """The derived completing facts of each chapter in ``keys``."""
    out: dict[ChapterKey, list[TailEvent]] = {}
    if keys:
        for r in await conn.fetch(_FACTS, *[[k[i] for k in keys] for i in range(3)]):
            fact = TailEvent(r["fact_ts"], r["fact_event_id"], COMPLETING, -1.0, 0, -1.0)
            out.setdefault((r[0], r[1], r[2]), []).append(fact)
    return out


async def chapters_of(conn: Conn, pairs: Iterable[Pair]) -> set[ChapterKey]:
    """Every chapter row of these (user, course) pairs: what a catalog change re-decides."""
    ps = sorted(set(pairs))
    rows = await conn.fetch(
        "SELECT cp.user_id, cp.course_id, cp.chapter_id FROM chapter_progress cp"
        " JOIN unnest($1::text[], $2::text[]) AS k(user_id, course_id)"
        " USING (user_id, course_id)", [p[0] for p in ps], [p[1] for p in ps],
    ) if ps else []
    return {(r[0], r[1], r[2]) for r in rows}


def _chapter_event(key: ChapterKey, s: ChapterSummary) -> DomainEvent:
    at = ms_to_dt(s.completed_at if s.completed else s.last_ts) or datetime.now(UTC)
    return DomainEvent(
        type="chapter.completed" if s.completed else "chapter.uncompleted",
        user_id=key[0], course_id=key[1], occurred_at=at,
        data={"chapter_id": key[2], "completed": s.completed, "progress": s.progress,
              "completed_at": None if s.completed_at is None else at.isoformat()},
    )
