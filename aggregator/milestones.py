"""Learner milestones in the apply transaction: what each learner has ever achieved, kept current.

``learner_milestones`` holds one row per chapter ever completed, course ever completed, path ever
completed (every required course ever completed), quiz ever passed and quiz ever passed at
100 %, with the earliest moment known (``aggregator.
achievement_rules``). Rows are written from what the batch already has — the chapter states'
completing events, the quiz keys it reassessed, the course pairs it rolled up — with one upsert
that only moves a row earlier; nothing is read per learner. ``record`` returns the users whose
milestones were inserted or moved (only they can newly meet a counting criterion) and the new
rows (chapter points and certificates are due on those).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aggregator import course_epochs
from aggregator.achievement_rules import Moment, earlier, first_completing
from aggregator.db import Conn
from buffer.fold import ChapterState

MilestoneKey = tuple[str, str, str, str]
"""(user, kind, course, item)."""

_UPSERT = """
INSERT INTO learner_milestones AS t (user_id, kind, course_id, item_id, ts, event_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::text[])
ORDER BY 1, 2, 3, 4
ON CONFLICT (user_id, kind, course_id, item_id) DO UPDATE
    SET ts = excluded.ts, event_id = excluded.event_id
    WHERE (excluded.ts, excluded.event_id) < (t.ts, t.event_id)
RETURNING t.user_id, t.kind, t.course_id, t.item_id, t.ts, (xmax = 0) AS inserted
"""
_QUIZ = """
WITH k AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS k(user_id, course_id,
                                                                        quiz_id))
SELECT 'quiz_pass' AS kind, s.user_id, s.course_id, s.quiz_id,
       (extract(epoch FROM s.passed_at) * 1000)::int8 AS ts, coalesce(s.passed_attempt_id, '') AS id
FROM quiz_summary s JOIN k USING (user_id, course_id, quiz_id)
WHERE s.passed AND s.passed_at IS NOT NULL
UNION ALL
SELECT 'chapter', s.user_id, s.course_id, s.fact_chapter_id, s.fact_ts, s.fact_event_id
FROM quiz_summary s JOIN k USING (user_id, course_id, quiz_id) WHERE s.fact_chapter_id IS NOT NULL
UNION ALL
(SELECT DISTINCT ON (q.user_id, q.course_id, q.quiz_id) 'quiz_perfect', q.user_id, q.course_id,
        q.quiz_id, (extract(epoch FROM q.ts) * 1000)::int8, q.event_id
 FROM quiz_attempts q JOIN k USING (user_id, course_id, quiz_id)
 WHERE q.status = 'counted' AND q.percent >= 100
 ORDER BY q.user_id, q.course_id, q.quiz_id, q.ts, q.event_id)
"""
_COURSES = """
SELECT cp.user_id, cp.course_id, (extract(epoch FROM cp.completed_at) * 1000)::int8 AS ts
FROM course_progress cp
JOIN unnest($1::text[], $2::text[]) AS k(user_id, course_id) USING (user_id, course_id)
WHERE cp.status = 'completed' AND cp.completed_at IS NOT NULL
"""
_PATHS = """
WITH k AS (SELECT DISTINCT * FROM unnest($1::text[], $2::text[]) AS k(user_id, course_id)),
p AS (SELECT DISTINCT k.user_id, pc.path_id FROM k JOIN path_courses pc USING (course_id))
SELECT p.user_id, p.path_id, max(m.ts) AS ts
FROM p
JOIN path_courses pc ON pc.path_id = p.path_id AND pc.required
LEFT JOIN learner_milestones m ON m.user_id = p.user_id AND m.kind = 'course'
                              AND m.course_id = pc.course_id AND m.item_id = ''
GROUP BY p.user_id, p.path_id
HAVING count(m.user_id) = count(*)
"""
_PATH_OF_USERS = """
SELECT u.user_id, pc.path_id, max(m.ts) AS ts
FROM unnest($1::text[]) AS u(user_id)
JOIN path_courses pc ON pc.path_id = $2 AND pc.required
LEFT JOIN learner_milestones m ON m.user_id = u.user_id AND m.kind = 'course'
                              AND m.course_id = pc.course_id AND m.item_id = ''
GROUP BY u.user_id, pc.path_id
HAVING count(m.user_id) = count(*)
"""


@dataclass
class Recorded:
    """What one ``record`` call changed."""

    moved_users: set[str] = field(default_factory=set)
    new: list[tuple[MilestoneKey, int]] = field(default_factory=list)
    """Milestones seen for the first time, with their ts."""

    def merge(self, other: Recorded) -> None:
        self.moved_users |= other.moved_users
        self.new += other.new

    def new_of(self, kind: str) -> list[tuple[MilestoneKey, int]]:
        return [(k, ts) for k, ts in self.new if k[1] == kind]


def chapter_milestones(
    chapters: Mapping[tuple[str, str, str], ChapterState],
) -> dict[MilestoneKey, Moment]:
    """The earliest completing fact of each chapter in a batch (none: not in the result)."""
    out: dict[MilestoneKey, Moment] = {}
    for (user, course, chapter), state in chapters.items():
        m = first_completing(state)
        if m is not None:
            out[(user, "chapter", course, chapter)] = m
    return out


async def upsert(conn: Conn, found: Mapping[MilestoneKey, Moment]) -> Recorded:
    """Store ``found``, each row only moving earlier."""
    out = Recorded()
    if not found:
        return out
    keys = sorted(found)
    rows = await conn.fetch(
        _UPSERT, *[[k[i] for k in keys] for i in range(4)],
        [found[k].ts for k in keys], [found[k].id for k in keys],
    )
    for r in rows:
        out.moved_users.add(r["user_id"])
        if r["inserted"]:
            out.new.append(((r[0], r[1], r[2], r[3]), r["ts"]))
    return out


async def quiz_milestones(
    conn: Conn, keys: Iterable[tuple[str, str, str]]
) -> dict[MilestoneKey, Moment]:
    """Quiz passes, perfect attempts and quiz-derived chapter facts of the reassessed quizzes."""
    ks = sorted(set(keys))
    out: dict[MilestoneKey, Moment] = {}
    if ks:
        for r in await conn.fetch(_QUIZ, *[[k[i] for k in ks] for i in range(3)]):
            key = (r["user_id"], r["kind"], r["course_id"], r["quiz_id"])
            out[key] = earlier(out.get(key), Moment(r["ts"], r["id"])) or Moment(r["ts"])
    return out


async def course_milestones(
    conn: Conn, pairs: Iterable[tuple[str, str]]
) -> dict[MilestoneKey, Moment]:
    """The courses among ``pairs`` ever completed in some reset epoch (``aggregator.
    course_epochs``) or completed now (quiz-scored chapters, chapters logged before the event
    log existed), at the earlier of the two moments."""
    ps = sorted(set(pairs))
    if not ps:
        return {}
    rows = await conn.fetch(_COURSES, [p[0] for p in ps], [p[1] for p in ps])
    out = {(r["user_id"], "course", r["course_id"], ""): Moment(r["ts"]) for r in rows}
    for (user, course), at in (await course_epochs.completed(conn, ps)).items():
        key = (user, "course", course, "")
        out[key] = min(out.get(key, at), at)
    return out


async def path_milestones(
    conn: Conn, pairs: Iterable[tuple[str, str]]
) -> dict[MilestoneKey, Moment]:
    """The paths through ``pairs``' courses whose every required course the learner has ever
    completed, at the latest of those completions (the one that finished the path)."""
    ps = sorted(set(pairs))
    if not ps:
        return {}
    rows = await conn.fetch(_PATHS, [p[0] for p in ps], [p[1] for p in ps])
    return {(r["user_id"], "path", "", r["path_id"]): Moment(r["ts"]) for r in rows}


async def path_of_users(
    conn: Conn, path_id: str, users: Iterable[str]
) -> dict[MilestoneKey, Moment]:
    """Among ``users``, those who have ever completed every required course of ``path_id``, at
    the latest of those completions."""
    rows = await conn.fetch(_PATH_OF_USERS, sorted(set(users)), path_id)
    return {(r["user_id"], "path", "", r["path_id"]): Moment(r["ts"]) for r in rows}


async def courses_and_paths(conn: Conn, pairs: Iterable[tuple[str, str]]) -> Recorded:
    """Record the completed courses among ``pairs``, then the paths they complete."""
    ps = sorted(set(pairs))
    courses = await course_milestones(conn, ps)
    out = await upsert(conn, courses)
    out.merge(await upsert(conn, await path_milestones(conn, [(k[0], k[2]) for k in courses])))
    return out


async def record(
    conn: Conn,
    chapters: Mapping[tuple[str, str, str], ChapterState],
    quiz_keys: Iterable[tuple[str, str, str]],
    rolled_pairs: Iterable[tuple[str, str]],
    reset_pairs: Iterable[tuple[str, str]] = (),
) -> Recorded:
    """Record the batch's milestones: chapters and quizzes first, then the courses they touch
    or whose reset history moved."""
    found = chapter_milestones(chapters)
    found.update(_earliest(found, await quiz_milestones(conn, quiz_keys)))
    out = await upsert(conn, found)
    # A course completes only when one of its chapters gains a completing fact, a reset splits
    # or opens an epoch, or its catalog changes (the recompute passes its pairs here too).
    touched = {(k[0], k[2]) for k in found if k[1] == "chapter"} & set(rolled_pairs)
    touched |= set(reset_pairs)
    out.merge(await courses_and_paths(conn, touched))
    return out


def _earliest(
    a: Mapping[MilestoneKey, Moment], b: Mapping[MilestoneKey, Moment]
) -> dict[MilestoneKey, Moment]:
    out = dict(b)
    for k, m in a.items():
        if k in out:
            out[k] = min(out[k], m)
    return out
