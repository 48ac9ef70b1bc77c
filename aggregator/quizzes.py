"""Quiz attempts in the apply transaction: store them, then reassess every touched (user, quiz).

An attempt is stored once per ``(user_id, attempt_id)``; of two events with the same key the
one with the smallest ``(ts, event id)`` is the attempt. Every (user, course, quiz) that gained
an attempt, lost one (the key moved to another quiz) or whose course reset moved is reassessed
from all its stored attempts with ``aggregator.assessment``: statuses and authoritative figures
are written where they changed, the summary row is rewritten, and the domain events of what
changed are returned. The summary row also holds the quiz's derived completing fact; the
chapters whose facts moved are returned for the chapter step to recompute.

Lock order: summary rows (sorted) before attempt rows, both after the course rows and before the
chapter rows, as everywhere in the apply step.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from aggregator import assessment as rules
from aggregator import quiz_catalog
from aggregator.assessment import Assessment, Attempt, QuizSummary
from aggregator.chapters import ms_to_dt
from aggregator.db import Conn
from aggregator.events import DomainEvent
from buffer.entries import QuizRecord
from buffer.fold import NONE_TS

QuizKey = tuple[str, str, str]
"""(user_id, course_id, quiz_id)"""
ChapterKey = tuple[str, str, str]
Pair = tuple[str, str]
NEW = "new"
"""The status of an attempt stored and not yet assessed (inside the apply transaction only)."""

_EXISTING = """
SELECT user_id, course_id, quiz_id FROM quiz_attempts q
JOIN unnest($1::text[], $2::text[]) AS k(user_id, attempt_id) USING (user_id, attempt_id)
"""
_OF_PAIRS = """
WITH k AS (SELECT * FROM unnest($1::text[], $2::text[]) AS k(user_id, course_id))
SELECT user_id, course_id, quiz_id FROM quiz_attempts JOIN k USING (user_id, course_id)
UNION
SELECT user_id, course_id, quiz_id FROM quiz_summary JOIN k USING (user_id, course_id)
"""
_LOCK_SUMMARIES = """
WITH k AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS k(user_id, course_id,
                                                                        quiz_id))
SELECT s.user_id, s.course_id, s.quiz_id, s.passed, s.attempts_left, s.fact_chapter_id,
       s.fact_ts, s.fact_event_id
FROM quiz_summary s JOIN k USING (user_id, course_id, quiz_id)
ORDER BY 1, 2, 3 FOR UPDATE OF s
"""
_INSERT_SUMMARIES = """
INSERT INTO quiz_summary (user_id, course_id, quiz_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING
"""
_ATTEMPTS = """
SELECT q.user_id, q.course_id, q.quiz_id, q.attempt_id, q.event_id, q.chapter_id,
       (extract(epoch FROM q.ts) * 1000)::int8 AS ts_ms, q.client_score, q.client_max_score,
       q.client_passed, q.status, q.passed, q.score, q.max_score, q.graded, q.items::text AS items,
       q.responses::text AS responses
FROM quiz_attempts q
JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(user_id, course_id, quiz_id)
  USING (user_id, course_id, quiz_id)
ORDER BY q.user_id, q.attempt_id FOR UPDATE OF q
"""
_UPSERT = """
INSERT INTO quiz_attempts AS t (attempt_id, event_id, user_id, course_id, quiz_id, chapter_id, ts,
    score, max_score, passed, duration_s, responses, client_score, client_max_score,
    client_passed, percent, status)
SELECT a, e, u, c, q, ch, ts, s, m, p, d, r, s, m, p, 100 * s / m, 'new'
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::timestamptz[], $8::float8[], $9::float8[], $10::bool[], $11::float8[],
            $12::jsonb[]) AS x(a, e, u, c, q, ch, ts, s, m, p, d, r)
ORDER BY u, a
ON CONFLICT (user_id, attempt_id) DO UPDATE SET event_id = excluded.event_id,
    course_id = excluded.course_id, quiz_id = excluded.quiz_id, chapter_id = excluded.chapter_id,
    ts = excluded.ts, duration_s = excluded.duration_s, responses = excluded.responses,
    client_score = excluded.client_score, client_max_score = excluded.client_max_score,
    client_passed = excluded.client_passed
WHERE (excluded.ts, excluded.event_id) < (t.ts, t.event_id)
"""
_UPDATE_ATTEMPTS = """
UPDATE quiz_attempts t SET status = u.status, score = u.score, max_score = u.max_score,
    percent = u.percent, passed = u.passed, graded = u.graded, items = u.items
FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::float8[],
            $7::bool[], $8::bool[], $9::jsonb[])
     AS u(user_id, attempt_id, status, score, max_score, percent, passed, graded, items)
WHERE t.user_id = u.user_id AND t.attempt_id = u.attempt_id
"""
_UPDATE_SUMMARIES = """
UPDATE quiz_summary t SET attempts = u.attempts, attempts_total = u.total,
    best_score = u.best_score, best_percent = u.best_percent, last_score = u.last_score,
    last_percent = u.last_percent, average_percent = u.average_percent,
    kept_score = u.kept_score, kept_percent = u.kept_percent, passed = u.passed,
    passed_at = u.passed_at, passed_attempt_id = u.passed_attempt_id,
    attempts_left = u.attempts_left, next_attempt_at = u.next_attempt_at,
    last_attempt_at = u.last_attempt_at, fact_chapter_id = u.fact_chapter_id,
    fact_ts = u.fact_ts, fact_event_id = u.fact_event_id, updated_at = now()
FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::int4[], $6::float8[],
            $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::float8[],
            $12::float8[], $13::bool[], $14::timestamptz[], $15::text[], $16::int4[],
            $17::timestamptz[], $18::timestamptz[], $19::text[], $20::int8[], $21::text[])
     AS u(user_id, course_id, quiz_id, attempts, total, best_score, best_percent, last_score,
          last_percent, average_percent, kept_score, kept_percent, passed, passed_at,
          passed_attempt_id, attempts_left, next_attempt_at, last_attempt_at, fact_chapter_id,
          fact_ts, fact_event_id)
WHERE t.user_id = u.user_id AND t.course_id = u.course_id AND t.quiz_id = u.quiz_id
"""
_RESETS = """
SELECT cp.user_id, cp.course_id, (extract(epoch FROM cp.reset_at) * 1000)::int8 AS reset_ms
FROM course_progress cp
JOIN unnest($1::text[], $2::text[]) AS k(user_id, course_id) USING (user_id, course_id)
"""


def _cols(rows: Sequence[tuple[Any, ...]], n: int) -> list[list[Any]]:
    return [[r[i] for r in rows] for i in range(n)]


async def store_attempts(
    conn: Conn, incoming: Iterable[tuple[str, str, str, QuizRecord]]
) -> set[QuizKey]:
    """Store the batch's attempts; return every (user, course, quiz) they touch."""
    first: dict[tuple[str, str], tuple[str, str, str, QuizRecord]] = {}
    for item in incoming:
        event_id, user_id, _, q = item
        key = (user_id, q.attempt_id)
        held = first.get(key)
        if held is None or (q.ts, event_id) < (held[3].ts, held[0]):
            first[key] = item
    if not first:
        return set()
    keys = sorted(first)
    touched = {(r[0], r[1], r[2]) for r in await conn.fetch(_EXISTING, *_cols(keys, 2))}
    rows = [
        (q.attempt_id, event_id, user_id, course_id, q.quiz_id, q.chapter_id, ms_to_dt(q.ts),
         q.score, q.max_score, q.passed, q.duration_s,
         msgspec.json.encode(q.responses).decode())
        for event_id, user_id, course_id, q in (first[k] for k in keys)
    ]
    touched |= {(r[2], r[3], r[4]) for r in rows}
    # the summaries are locked before the attempts are written: they order the writers
    ks = sorted(touched)
    await conn.execute(_INSERT_SUMMARIES, *_cols(ks, 3))
    await conn.fetch(_LOCK_SUMMARIES, *_cols(ks, 3))
    await conn.execute(_UPSERT, *_cols(rows, 12))
    return touched


async def quizzes_of(conn: Conn, pairs: Iterable[Pair]) -> set[QuizKey]:
    """Every (user, course, quiz) with a stored attempt or a summary in the given (user, course)
    pairs (a summary may outlive its attempts, when their ids moved to another quiz)."""
    ps = sorted(set(pairs))
    if not ps:
        return set()
    return {(r[0], r[1], r[2]) for r in await conn.fetch(_OF_PAIRS, *_cols(ps, 2))}


async def reset_times(conn: Conn, pairs: Iterable[Pair]) -> dict[Pair, int]:
    """The last reset of each (user, course) pair, in ms (``NONE_TS``: none)."""
    ps = sorted(set(pairs))
    rows = await conn.fetch(_RESETS, *_cols(ps, 2)) if ps else []
    found = {(r[0], r[1]): r["reset_ms"] for r in rows if r["reset_ms"] is not None}
    return {p: found.get(p, NONE_TS) for p in ps}


def _fact_of(r: Any) -> rules.Fact | None:
    if r["fact_chapter_id"] is None:
        return None
    return rules.Fact(r["fact_chapter_id"], r["fact_ts"], r["fact_event_id"])


async def reassess(
    conn: Conn, keys: Iterable[QuizKey], resets: dict[Pair, int]
) -> tuple[list[DomainEvent], set[ChapterKey]]:
    """Reassess ``keys`` (see module docstring): their domain events and the chapters whose
    derived completing fact moved. ``resets`` holds the reset of every key's pair."""
    ks = sorted(set(keys))
    if not ks:
        return [], set()
    await conn.execute(_INSERT_SUMMARIES, *_cols(ks, 3))
    old = {(r[0], r[1], r[2]): r for r in await conn.fetch(_LOCK_SUMMARIES, *_cols(ks, 3))}
    defs = await quiz_catalog.load(conn, {k[1] for k in ks})
    by_key: dict[QuizKey, list[Any]] = defaultdict(list)
    for r in await conn.fetch(_ATTEMPTS, *_cols(ks, 3)):
        by_key[(r[0], r[1], r[2])].append(r)
    events: list[DomainEvent] = []
    moved: set[ChapterKey] = set()
    attempt_rows: list[tuple[Any, ...]] = []
    summary_rows: list[tuple[Any, ...]] = []
    for key in ks:
        course = defs.get(key[1])
        rule = course.rule(key[2]) if course else quiz_catalog.rule_of(None, 70.0)
        stored = by_key.get(key, [])
        result = rules.assess(rule, [_attempt(r) for r in stored], resets.get(key[:2], NONE_TS))
        before = {r["attempt_id"]: (r["status"], r["passed"]) for r in stored
                  if r["status"] != NEW}
        was = old.get(key)
        was_summary = None if was is None else QuizSummary(
            passed=was["passed"], attempts_left=was["attempts_left"], fact=_fact_of(was)
        )
        ts_of = {r["attempt_id"]: r["ts_ms"] for r in stored}
        for ch in rules.changes(before, was_summary, result, ts_of):
            events.append(_event(key, ch, result))
        attempt_rows += _changed_attempts(key[0], stored, result)
        summary_rows.append(_summary_row(key, result))
        old_fact = None if was_summary is None else was_summary.fact
        if old_fact != result.summary.fact:
            moved |= {(key[0], key[1], f.chapter_id)
                      for f in (old_fact, result.summary.fact) if f is not None}
    if attempt_rows:
        await conn.execute(_UPDATE_ATTEMPTS, *_cols(attempt_rows, 9))
    await conn.execute(_UPDATE_SUMMARIES, *_cols(summary_rows, 21))
    return events, moved


def _attempt(r: Any) -> Attempt:
    responses = json.loads(r["responses"]) if r["responses"] else []
    return Attempt(
        attempt_id=r["attempt_id"], event_id=r["event_id"], ts=r["ts_ms"],
        client_score=r["client_score"], client_max_score=r["client_max_score"],
        client_passed=r["client_passed"], chapter_id=r["chapter_id"],
        responses=tuple(x for x in responses if isinstance(x, dict)),
    )


def _changed_attempts(user: str, stored: list[Any], result: Assessment) -> list[tuple[Any, ...]]:
    out = []
    for r in stored:
        g = result.attempts[r["attempt_id"]]
        items = _items(g.items)
        now = (g.status, g.score, g.max_score, g.passed, g.graded, items)
        if now != (r["status"], r["score"], r["max_score"], r["passed"], r["graded"],
                   r["items"]):
            out.append((user, g.attempt_id, g.status, g.score, g.max_score, g.percent,
                        g.passed, g.graded, items))
    return out


def _items(items: tuple[rules.Item, ...]) -> str:
    """As jsonb prints it back, so an unchanged value compares equal."""
    return json.dumps([list(i) for i in items], separators=(", ", ": "))


def _summary_row(key: QuizKey, result: Assessment) -> tuple[Any, ...]:
    s, f = result.summary, result.summary.fact
    return (
        *key, s.attempts_counted, s.attempts_total, s.best_score, s.best_percent, s.last_score,
        s.last_percent,
        s.average_percent, s.kept_score, s.kept_percent, s.passed, ms_to_dt(s.passed_at),
        s.passed_attempt_id, s.attempts_left, ms_to_dt(s.next_attempt_at),
        ms_to_dt(s.last_attempt_at), None if f is None else f.chapter_id,
        None if f is None else f.ts, None if f is None else f.event_id,
    )


def _event(key: QuizKey, ch: rules.Change, result: Assessment) -> DomainEvent:
    at = ms_to_dt(ch.ts)
    assert at is not None
    data: dict[str, Any] = {"quiz_id": key[2], **ch.data}
    if ch.type == "quiz.passed":
        g = result.attempts[str(ch.data["attempt_id"])]
        fact = result.summary.fact
        data.update(score=g.score, max_score=g.max_score, percent=g.percent,
                    chapter_id=None if fact is None else fact.chapter_id)
    return DomainEvent(type=ch.type, user_id=key[0], course_id=key[1], occurred_at=at, data=data)
