"""A course's structure rules as stored (modules' prerequisites, sequence, date locks and the
course's prerequisites), and the learner facts availability needs, read in one query each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import asyncpg
import msgspec

from aggregator.availability import ChapterFacts, CourseAvailability, ModuleRules, availability
from aggregator.db import Conn


class ModuleShape(msgspec.Struct, kw_only=True):
    module_id: str
    prerequisites: list[str] = []
    sequential: bool = False
    unlock_at: datetime | None = None


class CourseShape(msgspec.Struct, kw_only=True):
    modules: list[ModuleShape] = []
    prerequisites: list[str] = []

    @property
    def plain(self) -> bool:
        """No rule that can lock anything: every module and chapter is open."""
        return not self.prerequisites and not any(
            m.prerequisites or m.sequential or m.unlock_at for m in self.modules)


_shape = msgspec.json.Decoder(CourseShape).decode


async def course_shapes(conn: Conn, course_ids: Iterable[str]) -> dict[str, CourseShape]:
    """The structure rules of each course in ``course_ids`` that has a catalog."""
    rows = await conn.fetch(
        "SELECT course_id, jsonb_build_object('prerequisites', coalesce(doc->'prerequisites',"
        " '[]'), 'modules', coalesce((SELECT jsonb_agg(m - 'chapters' - 'title') FROM"
        " jsonb_array_elements(doc->'modules') m), '[]'))::text AS shape"
        " FROM courses WHERE course_id = ANY($1::text[])", sorted(set(course_ids)))
    return {r["course_id"]: _shape(r["shape"]) for r in rows}


async def completed_courses(conn: Conn, user_id: str, course_ids: Sequence[str]) -> set[str]:
    if not course_ids:
        return set()
    rows = await conn.fetch(
        "SELECT course_id FROM course_progress WHERE user_id = $1"
        " AND course_id = ANY($2::text[]) AND status = 'completed'", user_id, list(course_ids))
    return {r["course_id"] for r in rows}


def course_availability(
    shape: CourseShape,
    catalog: Sequence[asyncpg.Record | Mapping[str, object]],
    facts: Mapping[str, ChapterFacts],
    as_of: datetime,
    completed: set[str],
) -> CourseAvailability:
    """Availability over catalog rows (``chapter_id``, ``module_id``, ``required``) in order."""
    chapters: dict[str, list[ChapterFacts]] = {}
    for c in catalog:
        cid, mid = str(c["chapter_id"]), str(c["module_id"])
        chapters.setdefault(mid, []).append(
            facts.get(cid) or ChapterFacts(cid, bool(c["required"]), False, False))
    by_id = {m.module_id: m for m in shape.modules}
    modules = [ModuleRules(mid, chs, by_id[mid].prerequisites if mid in by_id else (),
                           mid in by_id and by_id[mid].sequential,
                           by_id[mid].unlock_at if mid in by_id else None)
               for mid, chs in chapters.items()]
    met = all(p in completed for p in shape.prerequisites)
    return availability(modules, as_of, met)
