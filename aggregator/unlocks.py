"""``module.completed`` and ``chapter.unlocked``: what a batch's chapter completions opened.

Called in the apply (and recompute) transaction with the chapter events it wrote: for each
(user, course) whose chapters' completion moved, availability is computed before and after the
move from the rows just written (the before state is the after state with those chapters
flipped back), at the same ``as_of``, so a date that passes unlocks nothing here — only a
completion does. Four set-based reads per call, none when no completion moved (the heartbeat
path). Availability in another course that names this one as a prerequisite is not announced.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
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
_DONE = """
SELECT user_id, course_id FROM course_progress
WHERE user_id = ANY($1::text[]) AND course_id = ANY($2::text[]) AND status = 'completed'
"""


async def unlock_events(conn: Conn, events: Sequence[DomainEvent]) -> list[DomainEvent]:
    """The module and unlock events that the chapter completions in ``events`` caused."""
    moved: dict[Pair, dict[str, DomainEvent]] = defaultdict(dict)
    for e in events:
        if e.type in _MOVES:
            moved[(e.user_id, e.course_id)][e.data["chapter_id"]] = e
    if not moved:
        return []
    pairs = sorted(moved)
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
        shape = shapes.get(pair[1])
        if shape is None:
            continue
        after_facts = rows[pair]
        before_facts = {cid: replace(f, completed=not f.completed) if cid in moved[pair] else f
                        for cid, f in after_facts.items()}
        completed = {c for u, c in done if u == pair[0]}
        before, after = (course_availability(shape, catalog[pair[1]], facts, now, completed)
                         for facts in (before_facts, after_facts))
        at = max(e.occurred_at for e in moved[pair].values())
        out += _events(pair, catalog[pair[1]], before, after, at)
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
