"""Learning sessions and per-course activity days in SQL, kept by the apply step.

``record`` runs in the apply transaction: it takes the batch's activity (every chapter event,
every quiz attempt) and, in one statement, locks the batch's learners (advisory locks in key
order, so two batches of one learner never interleave their read-modify-write) and reads each
learner's neighbouring sessions only — those within the gap of the batch's first and last
event, found through the primary key (``user_id``, ``started_ms``); in a second statement it
writes :func:`absorb`'s result (a session whose start did not move is updated in place, the
ones absorbed are deleted, new ones inserted) and marks each (user, course, UTC day) with
activity: the days of the progress history and of the velocity behind the forecast. See
``migrations/040_learning_analytics.sql``.

Course-level views, enrollments and resets are not session activity: the merge buffer keeps
only the latest of each per (user, course) and drain, so counting them would depend on how
events were batched; they carry no learning time either. A buffer entry's base (events folded
when more than the tail limit arrived in one merge window) counts as one event at its last time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

import asyncpg
import msgspec

from aggregator.db import Conn
from aggregator.session_rules import Activity, Session, absorb, changes, window
from aggregator.summary import utc_day
from buffer.fold import VIEWED, ChapterState

ChapterKey = tuple[str, str, str]

_NEIGHBOURS = """
WITH k AS (  -- each learner locked (in key order) before their sessions are read
    SELECT user_id, lo, hi, pg_advisory_xact_lock(lock_key)
    FROM (SELECT *, hashtextextended('waymark.session:' || user_id, 0) AS lock_key
          FROM unnest($1::text[], $2::int8[], $3::int8[]) AS k(user_id, lo, hi)) k
    ORDER BY lock_key
)
SELECT s.user_id, s.started_ms, s.ended_ms, s.events, s.time_spent_ms, s.touched
FROM k CROSS JOIN LATERAL (
    (SELECT * FROM learner_sessions p WHERE p.user_id = k.user_id AND p.started_ms < k.lo
     ORDER BY p.started_ms DESC LIMIT 1)
    UNION ALL
    SELECT * FROM learner_sessions p
    WHERE p.user_id = k.user_id AND p.started_ms BETWEEN k.lo AND k.hi
) s
WHERE s.ended_ms >= k.lo
"""
_WRITE = """
WITH w AS (
    SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int4[], $5::int8[],
                         $6::bytea[], $7::bool[])
        AS w(user_id, started_ms, ended_ms, events, time_spent_ms, touched, stored)
),
gone AS (
    DELETE FROM learner_sessions t USING unnest($8::text[], $9::int8[]) AS d(user_id, started_ms)
    WHERE t.user_id = d.user_id AND t.started_ms = d.started_ms
),
kept AS (  -- a session whose start is unchanged is updated in place (HOT-eligible)
    UPDATE learner_sessions t SET ended_ms = w.ended_ms, events = w.events,
        time_spent_ms = w.time_spent_ms, touched = w.touched
    FROM w WHERE w.stored AND t.user_id = w.user_id AND t.started_ms = w.started_ms
),
added AS (
    INSERT INTO learner_sessions (user_id, started_ms, ended_ms, events, time_spent_ms, touched)
    SELECT user_id, started_ms, ended_ms, events, time_spent_ms, touched FROM w
    WHERE NOT w.stored ORDER BY 1, 2
)
INSERT INTO course_activity_days (user_id, course_id, day)
SELECT * FROM unnest($10::text[], $11::text[], $12::date[]) ORDER BY 1, 2, 3
ON CONFLICT DO NOTHING
"""

_encode = msgspec.msgpack.Encoder().encode
_decode_touched = msgspec.msgpack.Decoder(tuple[list[str], list[tuple[str, str]]]).decode


def batch_activity(
    chapters: Mapping[ChapterKey, ChapterState], quizzes: Iterable[tuple[str, str, int]]
) -> dict[str, list[Activity]]:
    """Per learner, the activity of one applied batch (chapter states, (user, course, ts))."""
    out: dict[str, list[Activity]] = defaultdict(list)
    for (user, course, chapter), state in chapters.items():
        if not state.base.empty:
            out[user].append(Activity(state.base.last_ts, state.base.time_ms, course, chapter))
        out[user].extend(Activity(e.ts, e.time_ms, course, chapter) for e in state.tail
                         if e.kind != VIEWED)  # a view is course-level, as the module doc says
    for user, course, ts in quizzes:
        out[user].append(Activity(ts, 0, course))
    return dict(out)


def encode_touched(s: Session) -> bytes:
    return _encode((sorted(s.courses), sorted(s.chapters)))


def decode_touched(raw: bytes) -> tuple[list[str], list[tuple[str, str]]]:
    return _decode_touched(raw)


def stored_session(r: asyncpg.Record) -> Session:
    courses, chapters = decode_touched(r["touched"])
    return Session(r["started_ms"], r["ended_ms"], r["events"], r["time_spent_ms"],
                   frozenset(courses), frozenset(chapters))


async def record(
    conn: Conn,
    chapters: Mapping[ChapterKey, ChapterState],
    quizzes: Iterable[tuple[str, str, int]],
    gap_ms: int,
) -> None:
    """Fold one batch's activity into its learners' sessions and course activity days."""
    by_user = batch_activity(chapters, quizzes)
    if not by_user:
        return
    users = sorted(by_user)
    spans = [window(by_user[u], gap_ms) or (0, 0) for u in users]
    found: dict[str, list[Session]] = defaultdict(list)
    for r in await conn.fetch(_NEIGHBOURS, users, [s[0] for s in spans], [s[1] for s in spans]):
        found[r["user_id"]].append(stored_session(r))
    gone: list[tuple[str, int]] = []
    new: list[tuple[str, Session, bool]] = []
    for u in users:
        old = found.get(u, [])
        delete, write = changes(old, absorb(old, by_user[u], gap_ms))
        kept = {s.started_ms for s in delete} & {s.started_ms for s in write}
        gone += [(u, s.started_ms) for s in delete if s.started_ms not in kept]
        new += [(u, s, s.started_ms in kept) for s in write]
    days = sorted({(u, a.course_id, utc_day(a.ts)) for u in users for a in by_user[u]})
    await conn.execute(
        _WRITE, [u for u, _, _ in new], [s.started_ms for _, s, _ in new],
        [s.ended_ms for _, s, _ in new], [s.events for _, s, _ in new],
        [s.time_ms for _, s, _ in new], [encode_touched(s) for _, s, _ in new],
        [k for _, _, k in new], [u for u, _ in gone], [s for _, s in gone],
        [d[0] for d in days], [d[1] for d in days], [d[2] for d in days],
    )
