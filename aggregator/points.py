"""The points ledger, leaderboard totals, the leaderboard opt-out, and their reads.

The ledger is append-only and every entry says why (``reason``, ``ref_id``): an achievement's
points, or a catalog chapter's ``points`` on the chapter's first completion ever. An entry's key
(``entry_id``) is its reason, so it is written at most once whatever is replayed. Each new entry
also adds to ``points_totals``, one row per (learner, scope, period): scope ``''`` (global) and
the entry's course, periods all time, the entry's ISO week and month (UTC, by the time of the
fact that earned it). Leaderboards read those rows through an index ordered by points, so the
top N of a million learners is an index range scan of N rows, and a learner's rank one count
of the rows above. Opted-out learners' rows are flagged ``hidden`` and left out of that index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import msgspec

from aggregator.achievement_rules import current_period, leaderboard_periods
from aggregator.chapters import ms_to_dt
from aggregator.db import Conn


@dataclass(frozen=True, slots=True)
class Entry:
    user_id: str
    entry_id: str
    reason: str
    points: int
    course_id: str | None
    ref_id: str
    ts: int


_INSERT = """
INSERT INTO points_ledger (user_id, entry_id, reason, points, course_id, ref_id, occurred_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::text[], $6::text[],
                     $7::timestamptz[]) ORDER BY 1, 2
ON CONFLICT (user_id, entry_id) DO NOTHING
RETURNING user_id, entry_id
"""
_TOTALS = """
INSERT INTO points_totals AS t (user_id, scope, period, points, hidden)
SELECT u.user_id, u.scope, u.period, u.points,
       coalesce(NOT p.leaderboard, false)
FROM (SELECT user_id, scope, period, sum(points) AS points
      FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[]) AS u(user_id, scope, period,
                                                                        points)
      GROUP BY 1, 2, 3) u
LEFT JOIN learner_preferences p USING (user_id)
ORDER BY 1, 2, 3
ON CONFLICT (user_id, scope, period) DO UPDATE SET points = t.points + excluded.points
"""


async def add(conn: Conn, entries: list[Entry]) -> int:
    """Append ``entries`` (each at most once ever) and add the new ones to the totals."""
    if not entries:
        return 0
    rows = await conn.fetch(
        _INSERT, [e.user_id for e in entries], [e.entry_id for e in entries],
        [e.reason for e in entries], [e.points for e in entries],
        [e.course_id for e in entries], [e.ref_id for e in entries],
        [ms_to_dt(e.ts) for e in entries],
    )
    written = {(r["user_id"], r["entry_id"]) for r in rows}
    totals: list[tuple[str, str, str, int]] = []
    for e in entries:
        if (e.user_id, e.entry_id) in written:
            for scope in ("", e.course_id) if e.course_id else ("",):
                totals += [(e.user_id, scope, p, e.points) for p in leaderboard_periods(e.ts)]
    if totals:
        await conn.execute(_TOTALS, *[[t[i] for t in totals] for i in range(4)])
    return len(written)


_CHAPTER_POINTS = """
WITH k AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[])
           AS k(user_id, course_id, chapter_id, ts))
SELECT k.user_id, k.course_id, k.chapter_id, k.ts, (ch ->> 'points')::int AS points
FROM k JOIN courses c ON c.course_id = k.course_id,
     jsonb_path_query(c.doc, '$.modules[*].chapters[*]') AS ch
WHERE ch ->> 'chapter_id' = k.chapter_id AND coalesce((ch ->> 'points')::int, 0) > 0
"""


async def chapter_points(conn: Conn, completed: list[tuple[str, str, str, int]]) -> int:
    """Ledger entries for chapters completed for the first time ever that the catalog rewards."""
    if not completed:
        return 0
    rows = await conn.fetch(_CHAPTER_POINTS, *[[c[i] for c in completed] for i in range(4)])
    return await add(conn, [
        Entry(r["user_id"], f"chapter:{r['course_id']}:{r['chapter_id']}", "chapter_completed",
              r["points"], r["course_id"], r["chapter_id"], r["ts"]) for r in rows
    ])


class PointsEntry(msgspec.Struct, kw_only=True):
    reason: str
    """``achievement`` | ``chapter_completed``."""
    points: int
    course_id: str | None
    achievement_id: str | None = None
    chapter_id: str | None = None
    occurred_at: datetime
    """When the fact that earned the points happened (event time)."""


class PointsView(msgspec.Struct, kw_only=True):
    """``GET /v1/users/{user_id}/points``."""

    user_id: str
    balance: int
    entries: list[PointsEntry]


async def read_points(conn: Conn, user_id: str) -> PointsView:
    rows = await conn.fetch(
        "SELECT reason, points, course_id, ref_id, occurred_at FROM points_ledger"
        " WHERE user_id = $1 ORDER BY occurred_at, entry_id", user_id)
    entries = [PointsEntry(
        reason=r["reason"], points=r["points"], course_id=r["course_id"],
        achievement_id=r["ref_id"] if r["reason"] == "achievement" else None,
        chapter_id=r["ref_id"] if r["reason"] == "chapter_completed" else None,
        occurred_at=r["occurred_at"]) for r in rows]
    return PointsView(user_id=user_id, balance=sum(e.points for e in entries), entries=entries)


class Preferences(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``PUT /v1/users/{user_id}/preferences``."""

    leaderboard: bool = True
    """False: the learner appears on no leaderboard, not even as their own rank."""


async def set_preferences(conn: Conn, user_id: str, prefs: Preferences) -> Preferences:
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO learner_preferences (user_id, leaderboard) VALUES ($1, $2)"
            " ON CONFLICT (user_id) DO UPDATE SET leaderboard = excluded.leaderboard,"
            " updated_at = now()", user_id, prefs.leaderboard)
        await conn.execute("UPDATE points_totals SET hidden = $2 WHERE user_id = $1"
                           " AND hidden <> $2", user_id, not prefs.leaderboard)
    return prefs


async def get_preferences(conn: Conn, user_id: str) -> Preferences:
    v = await conn.fetchval(
        "SELECT leaderboard FROM learner_preferences WHERE user_id = $1", user_id)
    return Preferences(leaderboard=True if v is None else v)


class Rank(msgspec.Struct, kw_only=True):
    rank: int
    user_id: str
    points: int


class Leaderboard(msgspec.Struct, kw_only=True):
    """``GET /v1/leaderboards/points``."""

    course_id: str | None
    period: str
    """``week`` | ``month`` | ``all`` (weeks start on Monday, UTC)."""
    period_start: date | None
    leaders: list[Rank]
    me: Rank | None = None
    """The caller's own rank (user tokens only); null when they have no points in the period."""


_TOP = """
SELECT user_id, points FROM points_totals
WHERE scope = $1 AND period = $2 AND NOT hidden AND points > 0
ORDER BY points DESC, user_id LIMIT $3
"""
_MINE = "SELECT points, hidden FROM points_totals WHERE user_id = $1 AND scope = $2 AND period = $3"
_ABOVE = """
SELECT (SELECT count(*) FROM points_totals
        WHERE scope = $1 AND period = $2 AND NOT hidden AND points > $3)
     + (SELECT count(*) FROM points_totals
        WHERE scope = $1 AND period = $2 AND NOT hidden AND points = $3 AND user_id < $4)
"""
"""Two range counts on the rank index (an OR of both would scan all of the period's rows)."""


async def leaderboard(
    conn: Conn, course_id: str | None, period: str, limit: int, today: date,
    me: str | None = None,
) -> Leaderboard:
    key = current_period(period, today)
    scope = course_id or ""
    rows = await conn.fetch(_TOP, scope, key, limit)
    leaders = [Rank(rank=i + 1, user_id=r["user_id"], points=r["points"])
               for i, r in enumerate(rows)]
    mine = None
    if me is not None:
        r = await conn.fetchrow(_MINE, me, scope, key)
        if r is not None and r["points"] > 0 and not r["hidden"]:
            above = await conn.fetchval(_ABOVE, scope, key, r["points"], me)
            mine = Rank(rank=above + 1, user_id=me, points=r["points"])
    start = None if key == "all" else date.fromisoformat(key[1:] if key[0] == "w"
                                                          else f"{key[1:]}-01")
    return Leaderboard(course_id=course_id, period=period, period_start=start, leaders=leaders,
                       me=mine)
