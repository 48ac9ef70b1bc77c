"""A learner's skills: the catalog's tagged items of their courses, valued from their progress.

Read-time, from the learner's rows only: their non-dropped course records, those courses'
stored catalogs (the ``skills`` of chapters and quizzes), their chapter rows and quiz summaries
(the kept score by the quiz's scoring). The rule is ``aggregator.skill_rules``.
"""

from __future__ import annotations

import msgspec

from aggregator import skill_rules as rules
from aggregator.catalog import CourseCatalog
from aggregator.db import Conn


class SkillView(msgspec.Struct, kw_only=True):
    skill_id: str
    mastery: float
    """Percent, 2 decimals."""
    level: str
    """``novice`` | ``developing`` | ``proficient`` | ``mastered``."""
    items: int
    """Tagged chapters and quizzes counted (in the learner's non-dropped courses)."""


class SkillsView(msgspec.Struct, kw_only=True):
    user_id: str
    skills: list[SkillView]


_COURSES = """
SELECT c.course_id, c.doc::text AS doc FROM course_progress cp JOIN courses c USING (course_id)
WHERE cp.user_id = $1 AND cp.visible AND cp.enrollment_status IS DISTINCT FROM 'dropped'
"""
_decode_catalog = msgspec.json.Decoder(CourseCatalog).decode


async def skills(conn: Conn, user_id: str) -> SkillsView | None:
    """None when the learner has no course record at all."""
    if not await conn.fetchval(
        "SELECT true FROM course_progress WHERE user_id = $1 AND visible LIMIT 1", user_id
    ):
        return None
    catalogs = {r["course_id"]: _decode_catalog(r["doc"])
                for r in await conn.fetch(_COURSES, user_id)}
    courses = sorted(catalogs)
    chapters = {(r["course_id"], r["chapter_id"]): rules.chapter_value(r["completed"],
                                                                         r["progress"])
                for r in await conn.fetch(
                    "SELECT course_id, chapter_id, completed, progress FROM chapter_progress"
                    " WHERE user_id = $1 AND course_id = ANY($2::text[])", user_id, courses)}
    quizzes = {(r["course_id"], r["quiz_id"]): rules.quiz_value(r["kept_percent"])
               for r in await conn.fetch(
                   "SELECT course_id, quiz_id, kept_percent FROM quiz_summary"
                   " WHERE user_id = $1 AND course_id = ANY($2::text[])", user_id, courses)}
    items: list[rules.TaggedItem] = []
    for course_id, cat in catalogs.items():
        for m in cat.modules:
            for ch in m.chapters:
                value = chapters.get((course_id, ch.chapter_id), 0.0)
                items += [rules.TaggedItem(s, value) for s in dict.fromkeys(ch.skills)]
        for q in cat.quizzes:
            value = quizzes.get((course_id, q.quiz_id), 0.0)
            items += [rules.TaggedItem(s, value) for s in dict.fromkeys(q.skills)]
    return SkillsView(user_id=user_id, skills=[
        SkillView(skill_id=s, mastery=m, level=lvl, items=n)
        for s, (m, lvl, n) in rules.mastery(items).items()
    ])
