"""Path progress per learner: reads, and the rows that keep path events exactly once.

Reads compute a learner's progress from their course rows at the time of the read
(``aggregator.path_rules``), so they are always current. ``path_progress`` holds the figures last
announced per (user, path): :func:`refresh` — called by the apply step with the (user, course)
pairs whose course rollup moved, and by :func:`recompute_path` when a path changes — locks those
rows, recomputes and writes ``path.progressed`` / ``path.completed`` for the ones that moved.
Three set-based statements per call, none per learner.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import asyncpg
import msgspec

from aggregator import rewards
from aggregator.db import Conn
from aggregator.enrollment_rules import active_sql
from aggregator.events import DomainEvent, append
from aggregator.path_rules import CourseFacts, PathProgressView, on_path, path_progress
from aggregator.paths import PathDefinition, load_paths, paths_of_courses
from aggregator.queries import MAX_LIMIT as MAX_PAGE
from aggregator.signing import CertificateSigner

MAX_LIMIT = MAX_PAGE
"""Paths per page, as for the course list."""
BATCH = 500


class PathList(msgspec.Struct, kw_only=True):
    """``GET /v1/users/{user_id}/paths``: the learner's paths by ``path_id``."""

    user_id: str
    paths: list[PathProgressView]
    next_cursor: str | None


_FACTS = """
SELECT user_id, course_id, percent_complete, status, started_at, completed_at, visible,
       enrollment_status
FROM course_progress WHERE user_id = ANY($1::text[]) AND course_id = ANY($2::text[])
"""
_PATHS_OF_USER = """
SELECT DISTINCT pc.path_id FROM path_courses pc JOIN course_progress cp
  ON cp.course_id = pc.course_id AND cp.user_id = $1 AND {active}
WHERE pc.path_id > $2 ORDER BY pc.path_id LIMIT $3
""".replace("{active}", active_sql("cp."))
_INSERT = """
INSERT INTO path_progress (user_id, path_id)
SELECT * FROM unnest($1::text[], $2::text[]) ORDER BY 1, 2 ON CONFLICT DO NOTHING
"""
_LOCK = """
WITH k AS (SELECT * FROM unnest($1::text[], $2::text[]) AS k(user_id, path_id))
SELECT p.user_id, p.path_id, p.percent_complete, p.status
FROM path_progress p JOIN k USING (user_id, path_id) ORDER BY 1, 2 FOR UPDATE OF p
"""
_WRITE = """
UPDATE path_progress t SET percent_complete = u.pct, status = u.status,
    started_at = u.started_at, completed_at = u.completed_at, updated_at = now()
FROM unnest($1::text[], $2::text[], $3::numeric[], $4::text[], $5::timestamptz[],
            $6::timestamptz[]) AS u(user_id, path_id, pct, status, started_at, completed_at)
WHERE t.user_id = u.user_id AND t.path_id = u.path_id
"""


async def _facts(
    conn: Conn, users: Sequence[str], courses: Sequence[str]
) -> dict[str, dict[str, CourseFacts]]:
    out: dict[str, dict[str, CourseFacts]] = {}
    for r in await conn.fetch(_FACTS, list(users), list(courses)):
        pct = None if r["percent_complete"] is None else float(r["percent_complete"])
        out.setdefault(r["user_id"], {})[r["course_id"]] = CourseFacts(
            pct, r["status"], r["started_at"], r["completed_at"], r["visible"],
            r["enrollment_status"])
    return out


async def progress_of(conn: Conn, user_id: str, path_id: str) -> PathProgressView | None:
    """The learner's progress on a path; None when the path is missing or they are not on it."""
    path = (await load_paths(conn, [path_id])).get(path_id)
    if path is None:
        return None
    rows = (await _facts(conn, [user_id], path.course_ids)).get(user_id)
    return path_progress(path, rows) if rows and on_path(rows) else None


async def paths_of_user(conn: Conn, user_id: str, limit: int, cursor: str) -> PathList:
    """The paths the learner is on, ``limit`` at a time by ``path_id`` after ``cursor``."""
    ids = [r["path_id"] for r in await conn.fetch(_PATHS_OF_USER, user_id, cursor, limit + 1)]
    more, ids = len(ids) > limit, ids[:limit]
    paths = await load_paths(conn, ids)
    courses = sorted({c for p in paths.values() for c in p.course_ids})
    rows = (await _facts(conn, [user_id], courses)).get(user_id, {})
    views = [path_progress(p, {c: rows[c] for c in p.course_ids if c in rows})
             for p in (paths[i] for i in ids if i in paths)]
    return PathList(user_id=user_id, paths=views, next_cursor=ids[-1] if more else None)


async def after_rollup(
    conn: Conn, rolled: Sequence[DomainEvent], enrolled: Iterable[tuple[str, str]] = ()
) -> list[DomainEvent]:
    """:func:`refresh` for the pairs of course rollup events (their percent or status moved)
    and the pairs whose enrollment changed (a drop leaves a path's percent)."""
    return await refresh(conn, sorted({(e.user_id, e.course_id) for e in rolled} | set(enrolled)))


async def refresh(conn: Conn, pairs: Sequence[tuple[str, str]]) -> list[DomainEvent]:
    """Recompute the paths of these (user, course) pairs; the events of those that moved."""
    if not pairs:
        return []
    paths = await paths_of_courses(conn, sorted({c for _, c in pairs}))
    return await _refresh(conn, paths, pairs) if paths else []


async def _refresh(
    conn: Conn, paths: dict[str, PathDefinition], pairs: Sequence[tuple[str, str]]
) -> list[DomainEvent]:
    by_course: dict[str, list[str]] = {}
    for p in paths.values():
        for c in p.course_ids:
            by_course.setdefault(c, []).append(p.path_id)
    cause: dict[tuple[str, str], str] = {}
    for u, c in sorted(set(pairs), reverse=True):
        for pid in by_course.get(c, ()):
            cause[(u, pid)] = c
    keys = sorted(cause)
    courses = sorted({c for p in paths.values() for c in p.course_ids})
    facts = await _facts(conn, sorted({u for u, _ in keys}), courses)
    mine = {(u, pid): {c: f for c, f in facts.get(u, {}).items() if c in paths[pid].course_ids}
            for u, pid in keys}
    joining = [k for k in keys if on_path(mine[k])]  # a learner who left keeps a stored row
    await conn.execute(_INSERT, [u for u, _ in joining], [p for _, p in joining])
    stored = {(r["user_id"], r["path_id"]): r for r in await conn.fetch(
        _LOCK, [u for u, _ in keys], [p for _, p in keys])}
    events, rows = [], []
    for key in keys:
        u, pid = key
        if key not in stored:
            continue
        view = path_progress(paths[pid], mine[key])
        old = stored[key]
        rows.append((u, pid, view.percent_complete, view.status, view.started_at,
                     view.completed_at))
        events += _events(key, cause[key], view, float(old["percent_complete"]), old["status"])
    if rows:
        await conn.execute(_WRITE, *[[r[i] for r in rows] for i in range(6)])
    return events


def _events(
    key: tuple[str, str], course_id: str, view: PathProgressView, old_pct: float, old_status: str
) -> list[DomainEvent]:
    at = view.completed_at or view.started_at or datetime.now(UTC)
    data = {"path_id": key[1], "percent_complete": view.percent_complete,
            "previous_percent_complete": old_pct, "status": view.status,
            "current_course_id": view.current_course_id}
    out = []
    if view.percent_complete != old_pct:
        out.append(DomainEvent(type="path.progressed", user_id=key[0], course_id=course_id,
                               occurred_at=at, data=data))
    if view.status == "completed" and old_status != "completed":
        out.append(DomainEvent(type="path.completed", user_id=key[0], course_id=course_id,
                               occurred_at=at, data=data))
    return out


async def recompute_path(
    pool: asyncpg.Pool[asyncpg.Record], path_id: str, signer: CertificateSigner | None = None
) -> int:
    """Refresh every learner of the path's courses, ``BATCH`` per transaction, and give those
    who already qualify what the path makes due (``rewards.after_path_change``); how many."""
    after, done = "", 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            paths = await load_paths(conn, [path_id])
            if path_id not in paths:
                return done
            course_ids = list(paths[path_id].course_ids)
            users = [r["user_id"] for r in await conn.fetch(
                "SELECT DISTINCT user_id FROM course_progress WHERE course_id = ANY($1::text[])"
                " AND user_id > $2 ORDER BY user_id LIMIT $3", course_ids, after, BATCH)]
            if not users:
                return done
            pairs = [(u, course_ids[0]) for u in users]
            events = await _refresh(conn, paths, pairs)
            await append(conn, events + await rewards.after_path_change(
                conn, path_id, users, signer))
        done += len(users)
        after = users[-1]
