"""Erased learners in the apply step: their tombstones, and what of a batch still counts.

An erasure at ``erased_ms`` (the buffer's clock) removes every row and buffer entry of a learner
and leaves a tombstone. A worker may still hold a batch drained before the erasure, and the
ingest may have taken an event with ``ts`` at or before ``erased_ms`` in the instant the erasure
ran. So the apply step first takes a shared lock per learner of its batch (an erasure holds it
exclusively, so the two never interleave), reads their tombstones, and keeps of an erased
learner's entries only what :func:`drop_erased` keeps:

- an entry first accepted at or before ``erased_ms`` is dropped whole (it was taken before the
  erasure; after it, the erasure removed the learner's entries, so any later event of theirs
  starts a new entry);
- of a later entry, every event with ``ts`` at or before ``erased_ms`` is dropped (an offline
  replay cannot bring the learner back); what remains is a learner who came back afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

from aggregator.db import Conn
from buffer.entries import (
    ChapterHeader,
    CourseEntry,
    DrainedChapter,
    decode_chapter,
    decode_course,
    decode_quiz,
)
from buffer.fold import NONE_TS, CourseState, trim_chapter
from buffer.keys import split_keyid

ERASURE_LOCK = 0x57455241
"""First key of the two-key advisory lock of a learner; the second is their bucket,
``waymark_erasure_bucket(user_id)`` (one of 64, so a batch takes at most 64 locks)."""

_encode = msgspec.msgpack.Encoder().encode


async def lock_learners(conn: Conn, users: Iterable[str]) -> dict[str, int]:
    """Take the shared erasure lock of each learner's bucket; return the erased ones'
    ``erased_ms``."""
    rows = await conn.fetch("SELECT * FROM waymark_lock_learners($1::text[])", sorted(set(users)))
    return {r["user_id"]: r["erased_ms"] for r in rows}


def trim_course(state: CourseState, erased_ms: int) -> CourseState:
    """A course state without its facts at or before ``erased_ms``.

    ``seen_ts`` is the latest of all the entry's events: if it is later than the erasure, that
    event is kept and the maximum stands; otherwise nothing is left.
    """
    out = CourseState()
    if state.reset_ts > erased_ms:
        out.reset_ts, out.reset_id = state.reset_ts, state.reset_id
    if state.enroll_ts > erased_ms:
        out.enroll_status, out.enroll_ts, out.enroll_id = (
            state.enroll_status, state.enroll_ts, state.enroll_id)
    if state.view_ts > erased_ms:
        out.view_chapter, out.view_ts, out.view_id = (
            state.view_chapter, state.view_ts, state.view_id)
    if state.seen_ts > erased_ms:
        out.seen_ts = state.seen_ts
    return out


def _chapter(raw: bytes, erased_ms: int) -> bytes | None:
    state, accepted_ms = decode_chapter(raw)
    if accepted_ms is None or accepted_ms <= erased_ms:
        return None
    kept = trim_chapter(state, erased_ms)
    if kept.base.empty and not kept.tail:
        return None
    last = max(kept.tail, key=lambda e: (e.ts, e.id), default=None)
    header = ChapterHeader(kept.base, accepted_ms, last.ts if last else NONE_TS,
                           last.id if last else "", len(kept.tail))
    return _encode(DrainedChapter(header, kept.tail))


def _course(raw: bytes, erased_ms: int) -> bytes | None:
    entry = decode_course(raw)
    if entry.accepted_ms is None or entry.accepted_ms <= erased_ms:
        return None
    state = trim_course(entry.state, erased_ms)
    attempts = [(i, blob) for i, blob in entry.attempts if decode_quiz(blob).ts > erased_ms]
    enrollments = [e for e in entry.enrollments if e[1] > erased_ms]
    resets = [r for r in entry.resets if r[1] > erased_ms]
    if state.seen_ts == NONE_TS and not attempts:
        return None
    return _encode(CourseEntry(state, attempts, entry.accepted_ms, enrollments, resets))


def drop_erased(
    entries: Iterable[tuple[str, bytes]], erased: Mapping[str, int]
) -> list[tuple[str, bytes]]:
    """The entries of a batch that still count, given erased learners' ``erased_ms``."""
    out = []
    for kid, raw in entries:
        user_id, _, chapter_id = split_keyid(kid)
        erased_ms = erased.get(user_id)
        if erased_ms is None:
            out.append((kid, raw))
            continue
        kept = _chapter(raw, erased_ms) if chapter_id else _course(raw, erased_ms)
        if kept is not None:
            out.append((kid, kept))
    return out

