"""Achievement definitions (admin) and their evaluation for the learners a batch touched.

A definition is validated whole before anything is stored. Evaluation runs in the caller's
transaction (the apply step, the catalog recompute, a definition's backfill): the candidates are
the learners whose milestones moved (counting criteria) or who had activity (time and streak
criteria, pre-filtered by their day totals), their histories are loaded with one statement per
kind, and ``achievement_rules.first_moment`` decides. A new award is written once
(``achievement_awards`` keyed by learner and achievement), with its points in the ledger and its
``achievement.awarded`` event in the outbox; an award that exists is never taken back, and its
moment is corrected in place when a late, earlier event makes the criterion hold sooner (no
second event, no second points).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

import asyncpg
import msgspec

from aggregator import points
from aggregator.achievement_rules import (
    COUNTED,
    KINDS,
    UNSCOPED,
    Activity,
    Criterion,
    History,
    Moment,
    first_moment,
)
from aggregator.chapters import ms_to_dt
from aggregator.db import Conn
from aggregator.events import DomainEvent
from buffer.fold import TailEvent
from waymark_client.wire import Id

MAX_POINTS = 1_000_000
MAX_THRESHOLD = 10**12
Text = Annotated[str, msgspec.Meta(max_length=2000, pattern=r"^[^\x00]*$")]


Kind = Literal["chapters_completed", "courses_completed", "paths_completed", "streak_days",
               "quiz_perfect", "time_spent_s", "quizzes_passed"]


class Criteria(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    kind: Kind
    threshold: Annotated[int, msgspec.Meta(ge=1, le=MAX_THRESHOLD)]
    course_id: Id | None = None
    """A course with a catalog (not for ``streak_days`` or ``paths_completed``)."""


class AchievementDefinition(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``PUT /v1/achievements/{achievement_id}``."""

    title: Text = ""
    description: Text = ""
    points: Annotated[int, msgspec.Meta(ge=0, le=MAX_POINTS)] = 0
    criteria: Criteria


class CriteriaView(msgspec.Struct, kw_only=True):
    kind: str
    threshold: int
    course_id: str | None


class AchievementView(msgspec.Struct, kw_only=True):
    achievement_id: str
    title: str
    description: str
    points: int
    criteria: CriteriaView
    version: int
    backfill: str
    """``queued`` | ``running`` | ``done``: applying the definition to every learner."""
    learners_done: int


class AchievementList(msgspec.Struct, kw_only=True):
    achievements: list[AchievementView]


class DefinitionError(ValueError):
    code = "invalid_definition"


@dataclass(frozen=True, slots=True)
class Definition:
    achievement_id: str
    title: str
    points: int
    criterion: Criterion


async def validate(conn: Conn, d: AchievementDefinition) -> None:
    c = d.criteria
    if c.kind not in KINDS:
        raise DefinitionError(f"criteria.kind: unknown criterion kind {c.kind!r}")
    if not 0 < c.threshold <= MAX_THRESHOLD:
        raise DefinitionError(f"criteria.threshold: must be 1..{MAX_THRESHOLD}")
    if not 0 <= d.points <= MAX_POINTS:
        raise DefinitionError(f"points: must be 0..{MAX_POINTS}")
    if c.course_id is not None:
        if c.kind in UNSCOPED:
            raise DefinitionError(f"criteria.course_id: {c.kind} cannot be narrowed to a course")
        if not await conn.fetchval("SELECT 1 FROM courses WHERE course_id = $1", c.course_id):
            raise DefinitionError(f"criteria.course_id: unknown course {c.course_id!r}")


_STORE = """
INSERT INTO achievement_definitions AS t (achievement_id, title, description, points, kind,
    threshold, course_id)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (achievement_id) DO UPDATE SET title = excluded.title,
    description = excluded.description, points = excluded.points, kind = excluded.kind,
    threshold = excluded.threshold, course_id = excluded.course_id,
    version = t.version + 1, backfill_state = 'queued', learners_done = 0, updated_at = now()
RETURNING version
"""
_VIEW = """
SELECT achievement_id, title, description, points, kind, threshold, course_id, version,
       backfill_state, learners_done FROM achievement_definitions
"""


async def store(conn: Conn, achievement_id: str, d: AchievementDefinition) -> int:
    """Validate and store ``d``; return its version (the backfill to queue)."""
    await validate(conn, d)
    c = d.criteria
    version: int = await conn.fetchval(
        _STORE, achievement_id, d.title, d.description, d.points, c.kind, c.threshold, c.course_id
    )
    return version


def _view(r: asyncpg.Record) -> AchievementView:
    return AchievementView(
        achievement_id=r["achievement_id"], title=r["title"], description=r["description"],
        points=r["points"],
        criteria=CriteriaView(kind=r["kind"], threshold=r["threshold"], course_id=r["course_id"]),
        version=r["version"], backfill=r["backfill_state"], learners_done=r["learners_done"],
    )


async def load(conn: Conn, achievement_id: str) -> AchievementView | None:
    r = await conn.fetchrow(_VIEW + " WHERE achievement_id = $1", achievement_id)
    return None if r is None else _view(r)


async def list_all(conn: Conn) -> AchievementList:
    return AchievementList(achievements=[_view(r) for r in await conn.fetch(
        _VIEW + " ORDER BY achievement_id")])


async def definitions(conn: Conn, only: str | None = None) -> list[Definition]:
    rows = await conn.fetch(
        "SELECT achievement_id, title, points, kind, threshold, course_id"
        " FROM achievement_definitions WHERE $1::text IS NULL OR achievement_id = $1"
        " ORDER BY achievement_id", only)
    return [Definition(r["achievement_id"], r["title"], r["points"],
                       Criterion(r["kind"], r["threshold"], r["course_id"])) for r in rows]


_MILESTONES = """
SELECT user_id, kind, course_id, item_id, ts, event_id FROM learner_milestones
WHERE user_id = ANY($1::text[])
"""
_DAY_TOTALS = """
SELECT u.user_id, coalesce(s.longest_streak_days, 0) AS streak,
       coalesce((SELECT sum(d.time_spent_ms) FROM daily_activity d WHERE d.user_id = u.user_id),
                0)::int8 AS time_ms
FROM unnest($1::text[]) AS u(user_id) LEFT JOIN user_summary s USING (user_id)
"""
_LOGGED = """
SELECT user_id, course_id, events FROM chapter_event_log WHERE user_id = ANY($1::text[])
"""
_ATTEMPT_TIMES = """
SELECT user_id, course_id, (extract(epoch FROM ts) * 1000)::int8 AS ts, event_id
FROM quiz_attempts WHERE user_id = ANY($1::text[])
"""
_AWARDS = """
SELECT user_id, achievement_id, awarded_ts, awarded_event_id FROM achievement_awards
WHERE user_id = ANY($1::text[])
"""
_INSERT_AWARDS = """
INSERT INTO achievement_awards (user_id, achievement_id, points, awarded_ts, awarded_event_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::int4[], $4::int8[], $5::text[]) ORDER BY 1, 2
ON CONFLICT (user_id, achievement_id) DO NOTHING
RETURNING user_id, achievement_id
"""
_MOVE_AWARDS = """
UPDATE achievement_awards t SET awarded_ts = u.ts, awarded_event_id = u.id
FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[]) AS u(user_id, achievement_id, ts, id)
WHERE t.user_id = u.user_id AND t.achievement_id = u.achievement_id
"""
_events = msgspec.msgpack.Decoder(list[TailEvent]).decode


async def _histories(
    conn: Conn, users: list[str], activity: bool
) -> dict[str, History]:
    found: dict[str, dict[str, dict[tuple[str, str], Moment]]] = {u: {} for u in users}
    for r in await conn.fetch(_MILESTONES, users):
        kinds = found[r["user_id"]].setdefault(r["kind"], {})
        kinds[(r["course_id"], r["item_id"])] = Moment(r["ts"], r["event_id"])
    acts: dict[str, dict[str, Activity]] = {u: {} for u in users}
    if activity:
        for r in await conn.fetch(_LOGGED, users):
            for e in _events(r["events"]):
                acts[r["user_id"]][e.id] = Activity(Moment(e.ts, e.id), r["course_id"], e.time_ms)
        for r in await conn.fetch(_ATTEMPT_TIMES, users):
            eid = r["event_id"]
            acts[r["user_id"]][eid] = Activity(Moment(r["ts"], eid), r["course_id"], 0)
    return {u: History(found[u], list(acts[u].values())) for u in users}


async def evaluate(
    conn: Conn, moved_users: set[str], active: dict[str, int],
    only: str | None = None,
) -> list[DomainEvent]:
    """Award what the given learners now meet (see module docstring); return the events.

    ``moved_users``: learners whose milestones moved; ``active``: learners with activity in
    this batch, each with the earliest event ts it brought (a late event may move a moment).
    """
    defs = await definitions(conn, only)
    if not defs:
        return []
    counting = [d for d in defs if d.criterion.kind in COUNTED]
    timed = [d for d in defs if d.criterion.kind not in COUNTED]
    users = set(moved_users) if counting else set()
    asked = sorted(users | set(active)) if timed else sorted(users)
    if not asked:
        return []
    held = {(r["user_id"], r["achievement_id"]): Moment(r["awarded_ts"], r["awarded_event_id"])
            for r in await conn.fetch(_AWARDS, asked)}
    if timed and active:
        # an active learner is read only when their day totals reach a time or streak criterion
        # they do not hold yet, or the batch brought an event earlier than its moment
        for r in await conn.fetch(_DAY_TOTALS, sorted(active)):
            u = r["user_id"]
            if any(_reached(d, r["streak"], r["time_ms"]) and _open(held.get(
                    (u, d.achievement_id)), active[u]) for d in timed):
                users.add(u)
    ordered = sorted(users)
    if not ordered:
        return []
    histories = await _histories(conn, ordered, activity=bool(timed))
    new: list[tuple[str, Definition, Moment]] = []
    moved: list[tuple[str, str, Moment]] = []
    for user in ordered:
        for d in defs:
            m = first_moment(d.criterion, histories[user])
            if m is None:
                continue
            old = held.get((user, d.achievement_id))
            if old is None:
                new.append((user, d, m))
            elif m < old:
                moved.append((user, d.achievement_id, m))
    if moved:
        await conn.execute(_MOVE_AWARDS, [u for u, _, _ in moved], [a for _, a, _ in moved],
                           [m.ts for _, _, m in moved], [m.id for _, _, m in moved])
    return await _award(conn, new)


def _reached(d: Definition, streak: int, time_ms: int) -> bool:
    if d.criterion.kind == "streak_days":
        return streak >= d.criterion.threshold
    return time_ms >= d.criterion.threshold * 1000


def _open(held: Moment | None, earliest_ts: int) -> bool:
    """Can this batch change the award: none yet, or an event earlier than its moment."""
    return held is None or earliest_ts <= held.ts


async def _award(conn: Conn, new: list[tuple[str, Definition, Moment]]) -> list[DomainEvent]:
    if not new:
        return []
    rows = await conn.fetch(
        _INSERT_AWARDS, [u for u, _, _ in new], [d.achievement_id for _, d, _ in new],
        [d.points for _, d, _ in new], [m.ts for _, _, m in new], [m.id for _, _, m in new],
    )
    written = {(r["user_id"], r["achievement_id"]) for r in rows}
    events, entries = [], []
    for user, d, m in new:
        if (user, d.achievement_id) not in written:
            continue
        at = ms_to_dt(m.ts)
        assert at is not None
        course = d.criterion.course_id or ""
        events.append(DomainEvent(
            type="achievement.awarded", user_id=user, course_id=course, occurred_at=at,
            data={"achievement_id": d.achievement_id, "title": d.title, "points": d.points,
                  "awarded_at": at.isoformat()},
        ))
        if d.points:
            entries.append(points.Entry(user, f"achievement:{d.achievement_id}", "achievement",
                                        d.points, d.criterion.course_id, d.achievement_id, m.ts))
    await points.add(conn, entries)
    return events


class AwardView(msgspec.Struct, kw_only=True):
    achievement_id: str
    title: str
    description: str
    points: int
    awarded_at: datetime
    """Event time of the event at which the criterion first held (``(ts, id)`` order)."""


class AwardList(msgspec.Struct, kw_only=True):
    """``GET /v1/users/{user_id}/achievements``."""

    user_id: str
    achievements: list[AwardView]


_READ_AWARDS = """
SELECT a.achievement_id, coalesce(d.title, '') AS title, coalesce(d.description, '') AS descr,
       a.points, a.awarded_ts, a.awarded_event_id
FROM achievement_awards a LEFT JOIN achievement_definitions d USING (achievement_id)
WHERE a.user_id = $1 ORDER BY a.awarded_ts, a.awarded_event_id, a.achievement_id
"""


async def read_awards(conn: Conn, user_id: str) -> AwardList:
    rows = await conn.fetch(_READ_AWARDS, user_id)
    return AwardList(user_id=user_id, achievements=[AwardView(
        achievement_id=r["achievement_id"], title=r["title"], description=r["descr"],
        points=r["points"], awarded_at=ms_to_dt(r["awarded_ts"]) or datetime.now(UTC),
    ) for r in rows])
