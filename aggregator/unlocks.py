"""``module.completed`` and ``chapter.unlocked``: what a batch's chapter completions opened.

Called in the apply (and recompute) transaction with the chapter events it wrote: for each
(user, course) whose chapters' completion moved, availability is computed before and after the
move from the rows just written (the before state is the after state with those chapters
flipped back), at the same ``as_of``, so a date that passes unlocks nothing here — only a
completion does. Four set-based reads per call, none when no completion moved (the heartbeat
path). A course that becomes completed also announces what it opened in the courses that name
it as a prerequisite, for the learners who have a record there (:func:`course_unlock_events`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from aggregator.availability import ChapterFacts, CourseAvailability, newly_available
from aggregator.course_rules import course_availability, course_shapes
from aggregator.db import Conn
from aggregator.events import DomainEvent

Pair = tuple[str, str]
_MOVES = ("chapter.completed", "chapter.uncompleted")

_CATALOG = """
SELECT course_id, chapter_id, module_id, required FROM course_chapters
WHERE course_id = ANY($1::text[]) ORDER BY course_id, position
"""
_ROWS = """
SELECT cp.user_id, cp.course_id, cp.chapter_id, cp.completed,
       cp.first_activity_at IS NOT NULL AS started
FROM chapter_progress cp JOIN unnest($1::text[], $2::text[]) AS k(user_id, course_id)
USING (user_id, course_id)
"""
_DEPENDENTS = """
SELECT cp.user_id, c.course_id, ARRAY(SELECT jsonb_array_elements_text(c.doc->'prerequisites'))
       AS prereqs
FROM courses c JOIN course_progress cp ON cp.course_id = c.course_id
WHERE c.doc->'prerequisites' ?| $1::text[] AND cp.user_id = ANY($2::text[])
"""
_DONE = """
SELECT user_id, course_id FROM course_progress
WHERE user_id = ANY($1::text[]) AND course_id = ANY($2::text[]) AND status = 'completed'
"""


@dataclass
class _Cause:
    """What moved for one (user, course): chapters whose completion flipped, prerequisite
    courses just completed, and when."""

    at: datetime
    chapters: set[str] = field(default_factory=set)
    courses: set[str] = field(default_factory=set)


async def unlock_events(conn: Conn, events: Sequence[DomainEvent]) -> list[DomainEvent]:
    """The module and unlock events that the chapter completions in ``events`` caused."""
    causes: dict[Pair, _Cause] = {}
    for e in events:
        if e.type in _MOVES:
            c = causes.setdefault((e.user_id, e.course_id), _Cause(e.occurred_at))
            c.chapters.add(e.data["chapter_id"])
            c.at = max(c.at, e.occurred_at)
    return await _diff(conn, causes) if causes else []


async def course_unlock_events(
    conn: Conn, rolled: Sequence[DomainEvent]
) -> list[DomainEvent]:
    """The unlock events of the courses that name a course just completed as a prerequisite,
    for the learners who have a record in them."""
    done = {(e.user_id, e.course_id): e.occurred_at for e in rolled
            if e.type == "course.completed"}
    if not done:
        return []
    rows = await conn.fetch(_DEPENDENTS, sorted({c for _, c in done}),
                            sorted({u for u, _ in done}))
    causes: dict[Pair, _Cause] = {}
    for r in rows:
        for course in r["prereqs"]:
            at = done.get((r["user_id"], course))
            if at is not None:
                c = causes.setdefault((r["user_id"], r["course_id"]), _Cause(at))
                c.courses.add(course)
                c.at = max(c.at, at)
    return await _diff(conn, causes) if causes else []


async def _diff(conn: Conn, causes: dict[Pair, _Cause]) -> list[DomainEvent]:
    pairs = sorted(causes)
    courses = sorted({c for _, c in pairs})
    catalog: dict[str, list[dict[str, object]]] = defaultdict(list)
    for r in await conn.fetch(_CATALOG, courses):
        catalog[r["course_id"]].append(dict(r))
    shapes = await course_shapes(conn, [c for c in courses if catalog.get(c)])
    if not shapes:
        return []
    rows: dict[Pair, dict[str, ChapterFacts]] = defaultdict(dict)
    required = {(c, str(r["chapter_id"])): bool(r["required"]) for c, rs in catalog.items()
                for r in rs}
    for r in await conn.fetch(_ROWS, [u for u, _ in pairs], [c for _, c in pairs]):
        key = (r["course_id"], r["chapter_id"])
        if key in required:
            rows[(r["user_id"], r["course_id"])][r["chapter_id"]] = ChapterFacts(
                r["chapter_id"], required[key], r["completed"], r["started"])
    prereqs = sorted({p for s in shapes.values() for p in s.prerequisites})
    done = {(r["user_id"], r["course_id"]) for r in await conn.fetch(
        _DONE, sorted({u for u, _ in pairs}), prereqs)} if prereqs else set()
    now = datetime.now(UTC)
    out: list[DomainEvent] = []
    for pair in pairs:
        shape, cause = shapes.get(pair[1]), causes[pair]
        if shape is None:
            continue
        after_facts = rows[pair]
        before_facts = {cid: replace(f, completed=not f.completed) if cid in cause.chapters
                        else f for cid, f in after_facts.items()}
        completed = {c for u, c in done if u == pair[0]}
        before = course_availability(shape, catalog[pair[1]], before_facts, now,
                                     completed - cause.courses)
        after = course_availability(shape, catalog[pair[1]], after_facts, now, completed)
        out += _events(pair, catalog[pair[1]], before, after, cause.at)
    return out


def _events(
    pair: Pair, catalog: list[dict[str, object]],
    before: CourseAvailability, after: CourseAvailability, at: datetime,
) -> list[DomainEvent]:
    module_of = {str(r["chapter_id"]): str(r["module_id"]) for r in catalog}
    out = []
    for mid, a in after.modules.items():
        if a.state == "completed" and before.modules[mid].state != "completed":
            out.append(DomainEvent(type="module.completed", user_id=pair[0],
                                   course_id=pair[1], occurred_at=at,
                                   data={"module_id": mid}))
    for kind, item in newly_available(before, after):
        data = {"kind": kind, "module_id": item if kind == "module" else module_of[item],
                "chapter_id": None if kind == "module" else item}
        out.append(DomainEvent(type="chapter.unlocked", user_id=pair[0], course_id=pair[1],
                               occurred_at=at, data=data))
    return out
