"""Apply one drained buffer batch to PostgreSQL in one transaction, exactly once in effect.

Order inside the transaction (also the lock order, keys sorted, so concurrent batches never
deadlock): ledger row for the batch id (a re-delivered batch stops here), the shared erasure
lock of each learner and their tombstones (``aggregator.tombstones``), course rows (created if
missing, locked, course-level state merged), every enrollment event and course reset into its
history (``aggregator.enrollments``, ``aggregator.course_epochs``), quiz attempts (by
``(user_id, attempt_id)``) and their reassessment per (user, course, quiz) — statuses, grading,
summary and the quiz's derived completing fact, ``aggregator.quizzes`` — then chapter rows
(locked, merged in Python with ``buffer.fold``, trimmed by the course's reset, recomputed when
their quiz facts moved; a new row is inserted once, already merged), then the aggregates of the
affected rows only: course rollups per (user, course), daily activity per (user, day), user
summaries per user; then what the batch earned (``aggregator.rewards``: milestones ever reached,
chapter points, achievements, certificates); last, the domain events of every change into the
outbox — all in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from aggregator import (
    course_epochs,
    enrollments,
    ledger,
    path_progress,
    quizzes,
    rewards,
    sessions,
    summary,
    tombstones,
)
from aggregator.chapters import apply_chapters, ms_to_dt
from aggregator.db import Conn
from aggregator.enrollments import EnrollmentRow
from aggregator.events import DomainEvent, append
from aggregator.requirements import chapters_scored
from aggregator.rollup import recompute_courses
from aggregator.session_rules import DEFAULT_GAP_MS
from aggregator.signing import CertificateSigner
from aggregator.unlocks import course_unlock_events, unlock_events
from buffer.entries import QuizRecord, decode_chapter, decode_course, decode_quiz
from buffer.fold import (
    ChapterState,
    CourseState,
    merge_course,
)
from buffer.keys import split_keyid
from buffer.merge_buffer import DrainedBatch

Pair = tuple[str, str]
ChapterKey = tuple[str, str, str]

_encode = msgspec.msgpack.Encoder().encode


_decode_chapter_state = msgspec.msgpack.Decoder(ChapterState).decode
_decode_course_state = msgspec.msgpack.Decoder(CourseState).decode


@dataclass
class DecodedBatch:
    accepted_ms: list[int] = field(default_factory=list)
    """When each entry's first event was accepted (for the lag metric)."""
    chapters: dict[ChapterKey, ChapterState] = field(default_factory=dict)
    courses: dict[Pair, CourseState] = field(default_factory=dict)
    quizzes: list[tuple[str, str, str, QuizRecord]] = field(default_factory=list)
    enrollments: list[EnrollmentRow] = field(default_factory=list)
    resets: list[course_epochs.ResetRow] = field(default_factory=list)

    @property
    def pairs(self) -> set[Pair]:
        return {(u, c) for u, c, _ in self.chapters} | set(self.courses)


def decode_batch(entries: Iterable[tuple[str, bytes]]) -> DecodedBatch:
    out = DecodedBatch()
    for kid, raw in entries:
        user_id, course_id, chapter_id = split_keyid(kid)
        if chapter_id:
            state, accepted_ms = decode_chapter(raw)
            out.chapters[(user_id, course_id, chapter_id)] = state
        else:
            entry = decode_course(raw)
            accepted_ms = entry.accepted_ms
            out.courses[(user_id, course_id)] = entry.state
            for event_id, blob in entry.attempts:
                out.quizzes.append((event_id, user_id, course_id, decode_quiz(blob)))
            out.enrollments += [(user_id, course_id, *e) for e in entry.enrollments]
            st = entry.state  # the latest is in the state too (an entry older than its list)
            if st.enroll_id:
                out.enrollments.append(
                    (user_id, course_id, st.enroll_id, st.enroll_ts, st.enroll_status))
            out.resets += [(user_id, course_id, *r) for r in entry.resets]
            if st.reset_id:
                out.resets.append((user_id, course_id, st.reset_id, st.reset_ts))
        if accepted_ms is not None:
            out.accepted_ms.append(accepted_ms)
    return out


_LOCK_COURSES = """
SELECT cp.user_id, cp.course_id, cp.state
FROM unnest($1::text[], $2::text[]) AS k(user_id, course_id)
CROSS JOIN LATERAL (  -- by primary key, in the keys' order (see aggregator.chapters)
    SELECT * FROM course_progress t
    WHERE t.user_id = k.user_id AND t.course_id = k.course_id FOR UPDATE
) cp
"""
_INSERT_COURSES = """
INSERT INTO course_progress (user_id, course_id)
SELECT * FROM unnest($1::text[], $2::text[]) ORDER BY 1, 2 ON CONFLICT DO NOTHING
"""
_UPDATE_COURSES = """
UPDATE course_progress t SET state = u.state, reset_at = u.reset_at,
    enrollment_status = u.status, enrollment_at = u.enrolled_at,
    last_viewed_chapter = u.view_chapter, seen_at = u.seen_at, updated_at = now()
FROM unnest($1::text[], $2::text[], $3::bytea[], $4::timestamptz[], $5::text[],
            $6::timestamptz[], $7::text[], $8::timestamptz[])
     AS u(user_id, course_id, state, reset_at, status, enrolled_at, view_chapter, seen_at)
WHERE t.user_id = u.user_id AND t.course_id = u.course_id
"""


@dataclass(frozen=True, slots=True)
class ApplyResult:
    applied: bool
    chapters: int = 0
    courses: int = 0
    accepted_ms: tuple[int, ...] = ()


def _columns(rows: list[tuple[Any, ...]], n: int) -> list[list[Any]]:
    return [[r[i] for r in rows] for i in range(n)]


async def apply_batch(
    conn: Conn, batch: DrainedBatch, session_gap_ms: int = DEFAULT_GAP_MS,
    signer: CertificateSigner | None = None,
) -> ApplyResult:
    """Apply ``batch`` in one transaction; a batch id seen before applies nothing."""
    data = decode_batch(batch.entries)
    async with conn.transaction():
        if not await ledger.claim(conn, batch.batch_id, len(batch.entries)):
            return ApplyResult(applied=False)
        erased = await tombstones.lock_learners(conn, (u for u, _ in data.pairs))
        if erased:  # learners erased while this batch was in flight: drop what they sent before
            data = decode_batch(tombstones.drop_erased(batch.entries, erased))
        pairs = sorted(data.pairs)
        events: list[DomainEvent] = []
        resets = await _apply_courses(conn, pairs, data.courses, events)
        await enrollments.store(conn, data.enrollments)
        await course_epochs.store(conn, data.resets)
        keys = await quizzes.store_attempts(conn, data.quizzes)
        keys |= await quizzes.quizzes_of(conn, [p for p, (_, moved) in resets.items() if moved])
        quiz_resets = await quizzes.reset_times(conn, {k[:2] for k in keys} - set(resets))
        quiz_resets.update({p: ts for p, (ts, _) in resets.items()})
        quiz_events, refacted = await quizzes.reassess(conn, keys, quiz_resets)
        refacted |= await chapters_scored(conn, keys)
        chapter_resets = {p: (ts, False) for p, ts in quiz_resets.items()} | resets
        await apply_chapters(conn, data.chapters, chapter_resets, events, refacted)
        events += await unlock_events(conn, events)
        events += quiz_events
        rolled = await recompute_courses(conn, sorted(set(pairs) | {k[:2] for k in refacted}))
        events += rolled + await path_progress.after_rollup(
            conn, rolled, [(e[0], e[1]) for e in data.enrollments])
        events += await course_unlock_events(conn, rolled)
        await summary.add_activity(conn, summary.chapter_activity(
            data.chapters, [(u, q.ts) for _, u, _, q in data.quizzes]
        ))
        await summary.refresh_users(conn, [u for u, _ in pairs])
        await sessions.record(conn, data.chapters, [(u, c, q.ts) for _, u, c, q in data.quizzes],
                              session_gap_ms)
        events += await rewards.after_apply(
            conn, data.chapters, keys, [(u, q.ts) for _, u, _, q in data.quizzes],
            set(pairs) | {k[:2] for k in refacted}, signer, {r[:2] for r in data.resets})
        await append(conn, events, batch.batch_id)
    return ApplyResult(
        applied=True,
        chapters=len(data.chapters),
        courses=len(pairs),
        accepted_ms=tuple(data.accepted_ms),
    )


async def _apply_courses(
    conn: Conn, pairs: list[Pair], incoming: dict[Pair, CourseState], events: list[DomainEvent]
) -> dict[Pair, tuple[int, bool]]:
    """Merge course-level state; return per pair (reset ts, whether the reset moved)."""
    users, courses = [u for u, _ in pairs], [c for _, c in pairs]
    await conn.execute(_INSERT_COURSES, users, courses)
    stored = {
        (r["user_id"], r["course_id"]): _decode_course_state(r["state"])
        for r in await conn.fetch(_LOCK_COURSES, users, courses)
        if r["state"] is not None
    }
    resets: dict[Pair, tuple[int, bool]] = {}
    rows = []
    for pair in pairs:
        old = stored.get(pair, CourseState())
        new = incoming.get(pair)
        if new is None:
            resets[pair] = (old.reset_ts, False)
            continue
        merged = merge_course(old, new)
        resets[pair] = (merged.reset_ts, merged.reset_ts != old.reset_ts)
        events.extend(_course_events(pair, old, merged))
        rows.append((
            pair[0], pair[1], _encode(merged), ms_to_dt(merged.reset_ts),
            merged.enroll_status or None, ms_to_dt(merged.enroll_ts),
            merged.view_chapter or None, ms_to_dt(merged.seen_ts),
        ))
    if rows:
        await conn.execute(_UPDATE_COURSES, *_columns(rows, 8))
    return resets


def _course_events(pair: Pair, old: CourseState, new: CourseState) -> list[DomainEvent]:
    out = []
    if new.reset_ts != old.reset_ts:
        at = ms_to_dt(new.reset_ts)
        assert at is not None
        out.append(DomainEvent(type="course.reset", user_id=pair[0], course_id=pair[1],
                               occurred_at=at, data={"reset_at": at.isoformat()}))
    if new.enroll_status and new.enroll_status != old.enroll_status:
        at = ms_to_dt(new.enroll_ts)
        assert at is not None
        out.append(DomainEvent(
            type="enrollment.changed", user_id=pair[0], course_id=pair[1], occurred_at=at,
            data={"status": new.enroll_status, "previous_status": old.enroll_status or None},
        ))
    return out
