"""Course rollups by delta: the heartbeat case, without re-reading every chapter of the course.

The apply step knows each chapter row it writes as it was and as it leaves it. When none of a
(user, course)'s changed chapters moved its completion, completion time or visibility fact, and
no chapter's first activity moved later or last activity earlier, the course row's figures that
can move are exactly:

- ``time_spent_ms``: a sum over every chapter — plus the sum of the time deltas;
- ``avg_progress``: the mean chapter progress over the catalog's chapters (0 for unseen) — kept
  as an exact numeric sum (``progress_sum``) plus the progress deltas of catalog chapters, over
  the catalog's chapter count, rounded to 2 decimals as the full recompute does;
- ``started_at`` / ``last_activity_at``: a min and a max — the least / greatest with the new
  values; ``last_accessed_at`` follows, and ``status`` (percent cannot move, so only
  not_started → in_progress can happen).

Percent, chapter counts, ``completed_at`` and ``visible`` stay. Every other pair (a completion
or fact moved, a course-level entry, a reset, a quiz fact) goes to the full recompute, and so
does a row the delta statement finds unfit: never fully rolled up, written by anything else
since its last rollup (``rolled_at`` ≠ ``updated_at``), or rolled up under another catalog
version (a catalog change still being applied).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aggregator.db import Conn

Pair = tuple[str, str]
ChapterKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class ChapterFigures:
    """The columns of one chapter row that a course rollup reads."""

    progress: float = 0.0
    time_ms: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    completed: bool = False
    completed_at: datetime | None = None
    has_fact: bool = False


@dataclass(frozen=True, slots=True)
class ChapterChange:
    """A chapter row as the batch found it and as it leaves it."""

    key: ChapterKey
    old: ChapterFigures
    new: ChapterFigures


NEW_ROW = ChapterFigures()
"""A chapter row as it is created, before anything was merged into it."""


def moves_by_delta(change: ChapterChange) -> bool:
    """Whether the course rollup follows this chapter's change exactly by deltas."""
    old, new = change.old, change.new
    if (old.completed, old.completed_at, old.has_fact) != (
        new.completed, new.completed_at, new.has_fact
    ):
        return False
    if old.first_at is not None and (new.first_at is None or new.first_at > old.first_at):
        return False
    return old.last_at is None or (new.last_at is not None and new.last_at >= old.last_at)


def split_pairs(
    pairs: Iterable[Pair], changes: Iterable[ChapterChange], full: Iterable[Pair]
) -> tuple[list[ChapterChange], list[Pair]]:
    """Split the pairs to roll up into chapter changes applied by delta and pairs recomputed.

    A pair goes by delta when it is not in ``full``, has at least one chapter change, every
    one of its changes moves by delta, and not all of them are new rows (a learner's first
    chapters come with a new course row, which the delta statement would only find unfit: one
    round trip saved); the result is sorted by key.
    """
    by_pair: dict[Pair, list[ChapterChange]] = {}
    for change in changes:
        by_pair.setdefault((change.key[0], change.key[1]), []).append(change)
    forced = set(full)
    delta: list[ChapterChange] = []
    recompute: list[Pair] = []
    for pair in sorted(set(pairs)):
        mine = by_pair.get(pair)
        if (pair in forced or not mine or all(c.old == NEW_ROW for c in mine)
                or not all(moves_by_delta(c) for c in mine)):
            recompute.append(pair)
        else:
            delta += mine
    return sorted(delta, key=lambda c: c.key), recompute


DELTA_SQL = """
WITH d AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::float8[],
                         $6::float8[], $7::timestamptz[], $8::timestamptz[])
         AS d(user_id, course_id, chapter_id, time_delta, old_progress, new_progress,
              first_at, last_at)
),
moved AS (
    SELECT d.user_id, d.course_id, sum(d.time_delta) AS time_delta,
           (SELECT c.version FROM courses c WHERE c.course_id = d.course_id) AS version,
           (SELECT count(*) FROM course_chapters k WHERE k.course_id = d.course_id) AS chapters,
           coalesce(sum(d.new_progress::numeric - d.old_progress::numeric)
                    FILTER (WHERE cc.chapter_id IS NOT NULL), 0) AS progress_delta,
           min(d.first_at) AS first_at, max(d.last_at) AS last_at
    FROM d LEFT JOIN course_chapters cc
           ON cc.course_id = d.course_id AND cc.chapter_id = d.chapter_id
    GROUP BY d.user_id, d.course_id
),
old AS (
    SELECT t.user_id, t.course_id, t.percent_complete, t.status
    FROM course_progress t JOIN moved USING (user_id, course_id)
),
up AS (
UPDATE course_progress t SET
    time_spent_ms = t.time_spent_ms + m.time_delta,
    progress_sum = t.progress_sum + m.progress_delta,
    avg_progress = CASE WHEN m.chapters > 0
                        THEN round((t.progress_sum + m.progress_delta) / m.chapters, 2)::float8
                        ELSE 0 END,
    started_at = least(t.started_at, m.first_at),
    last_activity_at = greatest(t.last_activity_at, m.last_at),
    last_accessed_at = greatest(t.last_activity_at, m.last_at, t.seen_at),
    status = CASE WHEN t.percent_complete = 100 THEN 'completed'
                  WHEN least(t.started_at, m.first_at) IS NOT NULL THEN 'in_progress'
                  ELSE 'not_started' END,
    rolled_at = now(),
    updated_at = now()
FROM moved m
WHERE t.user_id = m.user_id AND t.course_id = m.course_id
  AND t.progress_sum IS NOT NULL AND t.rolled_at = t.updated_at
  AND t.rollup_catalog IS NOT DISTINCT FROM m.version
RETURNING t.user_id, t.course_id, t.percent_complete, t.status, t.completed_at,
          t.completed_chapters, t.total_chapters, t.last_activity_at
)
SELECT up.*, old.percent_complete AS old_percent, old.status AS old_status
FROM up JOIN old USING (user_id, course_id)
ORDER BY up.user_id, up.course_id
"""


async def apply_deltas(conn: Conn, changes: Sequence[ChapterChange]) -> list[Any]:
    """Update the course rows of these changes by delta; return every row it updated.

    The rows of pairs it did not update (unfit, see the module docstring) need a full recompute.
    """
    if not changes:
        return []
    return list(await conn.fetch(
        DELTA_SQL,
        [c.key[0] for c in changes], [c.key[1] for c in changes], [c.key[2] for c in changes],
        [c.new.time_ms - c.old.time_ms for c in changes],
        [c.old.progress for c in changes], [c.new.progress for c in changes],
        [c.new.first_at for c in changes], [c.new.last_at for c in changes],
    ))
