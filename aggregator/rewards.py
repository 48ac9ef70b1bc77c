"""Rewards in the apply transaction: milestones, chapter points, achievements, certificates.

Called last in the apply step (and by the catalog recompute), with what the batch already has:
its chapter states, the quiz keys it reassessed and the (user, course) pairs it rolled up. The
cost for a batch without completions, quizzes or definitions is one statement (the definitions);
see ``aggregator.milestones``, ``aggregator.achievements``, ``aggregator.points`` and
``aggregator.certificates`` for each part.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aggregator import achievement_backfill, achievements, certificates, milestones, points
from aggregator.db import Conn
from aggregator.events import DomainEvent
from aggregator.signing import CertificateSigner
from buffer.fold import NONE_TS, VIEWED, ChapterState


def earliest_activity(
    chapters: Mapping[tuple[str, str, str], ChapterState], quiz_ts: Iterable[tuple[str, int]]
) -> dict[str, int]:
    """Per learner, the earliest event ts a batch brought."""
    out: dict[str, int] = {}
    for (user, _, _), state in chapters.items():
        tss = [e.ts for e in state.tail if e.kind != VIEWED]
        if state.base.first_ts != NONE_TS:
            tss.append(state.base.first_ts)
        if tss:
            out[user] = min(out.get(user, min(tss)), min(tss))
    for user, ts in quiz_ts:
        out[user] = min(out.get(user, ts), ts)
    return out


async def after_apply(
    conn: Conn,
    chapters: Mapping[tuple[str, str, str], ChapterState],
    quiz_keys: Iterable[tuple[str, str, str]],
    quiz_ts: Iterable[tuple[str, int]],
    pairs: Iterable[tuple[str, str]],
    signer: CertificateSigner | None,
    reset_pairs: Iterable[tuple[str, str]] = (),
) -> list[DomainEvent]:
    """Everything a batch earned (see module docstring); return the events to append."""
    keys, rolled = set(quiz_keys), set(pairs)
    rec = await milestones.record(conn, chapters, keys, rolled, reset_pairs)
    await points.chapter_points(conn, [(k[0], k[2], k[3], ts) for k, ts in rec.new_of("chapter")])
    events = await achievements.evaluate(conn, rec.moved_users,
                                         earliest_activity(chapters, quiz_ts))
    due = {(k[0], k[2]) for k, _ in rec.new_of("course")} | {k[:2] for k in keys}
    events += await certificates.issue_due(conn, due, signer)
    events += await certificates.issue_due_paths(
        conn, [(k[0], k[3]) for k, _ in rec.new_of("path")], signer)
    return events


_CHAPTERS_OF = """
SELECT m.user_id, m.course_id, m.item_id, m.ts FROM learner_milestones m
JOIN unnest($1::text[], $2::text[]) AS k(user_id, course_id) USING (user_id, course_id)
WHERE m.kind = 'chapter'
"""


async def after_recompute(
    conn: Conn, pairs: list[tuple[str, str]], signer: CertificateSigner | None
) -> list[DomainEvent]:
    """What a catalog change makes due for ``pairs``: completed courses, points, awards."""
    rec = await milestones.courses_and_paths(conn, pairs)
    rows = await conn.fetch(_CHAPTERS_OF, [p[0] for p in pairs], [p[1] for p in pairs])
    await points.chapter_points(conn, [(r[0], r[1], r[2], r[3]) for r in rows])
    events = await achievements.evaluate(conn, rec.moved_users, {})
    events += await certificates.issue_due(conn, pairs, signer)
    return events + await certificates.issue_due_paths(conn, await _paths_of(conn, pairs), signer)


_PATHS_OF = """
SELECT DISTINCT m.user_id, m.item_id FROM learner_milestones m
JOIN path_courses pc ON pc.path_id = m.item_id
JOIN unnest($1::text[], $2::text[]) AS k(user_id, course_id)
  ON k.user_id = m.user_id AND k.course_id = pc.course_id
WHERE m.kind = 'path' AND m.course_id = ''
"""


async def _paths_of(conn: Conn, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (user, path) ever completed among the paths through ``pairs``' courses."""
    rows = await conn.fetch(_PATHS_OF, [p[0] for p in pairs], [p[1] for p in pairs])
    return [(r[0], r[1]) for r in rows]


async def after_path_change(
    conn: Conn, path_id: str, users: list[str], signer: CertificateSigner | None
) -> list[DomainEvent]:
    """What storing or changing ``path_id`` makes due for ``users`` (learners of its courses)
    who already qualify: the path milestone, ``paths_completed`` awards and the path
    certificate, each once (milestones are seeded first for progress that predates them)."""
    await achievement_backfill.seed_milestones(conn, users)
    rec = await milestones.upsert(conn, await milestones.path_of_users(conn, path_id, users))
    events = await achievements.evaluate(conn, rec.moved_users, {})
    return events + await certificates.issue_due_paths(
        conn, [(u, path_id) for u in users], signer)
