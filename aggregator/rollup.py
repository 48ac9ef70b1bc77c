"""Course rollups: one set-based statement recomputes the course progress of many (user, course).

Course percent = 100 * Σ weight of completed required chapters / Σ weight of required chapters
(2 decimals, NULL while the course has no catalog); avg_progress is the mean chapter progress over
catalog chapters (0 for unseen); time and activity cover every chapter, in the catalog or not.
Course-level merge state (reset, enrollment, views) is written by the batch apply and only read
here. ``visible``: the (user, course) has a course-level fact (``seen_at``: an enrollment, view,
reset or quiz attempt) or a chapter with a fact other than an uncomplete (``has_fact``). The
statement returns the rows whose percent or status moved, with their previous values, so the
caller can write ``course.progressed`` / ``course.completed`` in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from aggregator.db import Conn
from aggregator.events import DomainEvent

RECOMPUTE_SQL = """
-- Each pair's rows are read through primary keys (LATERAL), so the plan does not depend on the
-- tables' statistics or size; the previous values come from the same snapshot the upsert reads,
-- and the rows that moved are chosen from ``rolled`` (no join back to the upsert's output).
WITH pairs AS (
    SELECT DISTINCT user_id, course_id
    FROM unnest($1::text[], $2::text[]) AS p(user_id, course_id)
),
rolled AS (
    SELECT p.user_id, p.course_id,
           CASE WHEN NOT k.has_catalog THEN NULL
                WHEN k.req_weight > 0 THEN round((100 * k.done_weight / k.req_weight)::numeric, 2)
                ELSE 0 END AS percent,
           k.completed_chapters, k.total_chapters, k.avg_progress, k.last_required_done,
           a.time_spent_ms, a.started_at, a.last_activity_at,
           a.chapter_fact OR o.seen_at IS NOT NULL AS visible,
           o.percent_complete AS old_percent, o.status AS old_status
    FROM pairs p
    CROSS JOIN LATERAL (
        SELECT EXISTS (SELECT FROM courses c WHERE c.course_id = p.course_id) AS has_catalog,
               coalesce(sum(cc.weight) FILTER (WHERE cc.required), 0) AS req_weight,
               coalesce(sum(cc.weight) FILTER (WHERE cc.required AND cp.completed), 0)
                   AS done_weight,
               count(*) FILTER (WHERE cc.required AND cp.completed) AS completed_chapters,
               count(*) FILTER (WHERE cc.required) AS total_chapters,
               coalesce(avg(coalesce(cp.progress, 0)), 0) AS avg_progress,
               max(cp.completed_at) FILTER (WHERE cc.required AND cp.completed)
                   AS last_required_done
        FROM course_chapters cc
        LEFT JOIN chapter_progress cp
               ON cp.user_id = p.user_id AND cp.course_id = p.course_id
              AND cp.chapter_id = cc.chapter_id
        WHERE cc.course_id = p.course_id
    ) k
    CROSS JOIN LATERAL (
        SELECT coalesce(sum(cp.time_spent_ms), 0) AS time_spent_ms,
               min(cp.first_activity_at) AS started_at,
               max(cp.last_activity_at) AS last_activity_at,
               coalesce(bool_or(cp.has_fact), false) AS chapter_fact
        FROM chapter_progress cp
        WHERE cp.user_id = p.user_id AND cp.course_id = p.course_id
    ) a
    LEFT JOIN LATERAL (
        SELECT t.percent_complete, t.status, t.seen_at
        FROM course_progress t WHERE t.user_id = p.user_id AND t.course_id = p.course_id
        LIMIT 1  -- kept a per-pair lookup: not flattened into a join over the whole table
    ) o ON true
),
final AS (
    SELECT r.*,
           CASE WHEN r.percent = 100 THEN r.last_required_done END AS completed_at,
           CASE WHEN r.percent = 100 THEN 'completed'
                WHEN r.started_at IS NOT NULL THEN 'in_progress'
                ELSE 'not_started' END AS status
    FROM rolled r
),
up AS (
INSERT INTO course_progress AS t (
    user_id, course_id, percent_complete, completed_chapters, total_chapters, avg_progress,
    time_spent_ms, started_at, last_activity_at, last_accessed_at, completed_at, status, visible,
    updated_at
)
SELECT f.user_id, f.course_id, f.percent, f.completed_chapters, f.total_chapters,
       round(f.avg_progress::numeric, 2)::float8, f.time_spent_ms, f.started_at,
       f.last_activity_at, f.last_activity_at, f.completed_at, f.status, f.visible, now()
FROM final f
ORDER BY f.user_id, f.course_id
ON CONFLICT (user_id, course_id) DO UPDATE SET
    percent_complete = excluded.percent_complete,
    completed_chapters = excluded.completed_chapters,
    total_chapters = excluded.total_chapters,
    avg_progress = excluded.avg_progress,
    time_spent_ms = excluded.time_spent_ms,
    started_at = excluded.started_at,
    last_activity_at = excluded.last_activity_at,
    last_accessed_at = greatest(excluded.last_activity_at, t.seen_at),
    completed_at = excluded.completed_at,
    status = excluded.status,
    visible = excluded.visible,
    updated_at = now()
)
SELECT f.user_id, f.course_id, f.percent AS percent_complete, f.status, f.completed_at,
       f.completed_chapters, f.total_chapters, f.last_activity_at, f.old_percent, f.old_status
FROM final f
WHERE coalesce(f.old_percent, 0) IS DISTINCT FROM coalesce(f.percent, 0)
   OR f.old_status IS DISTINCT FROM f.status
ORDER BY f.user_id, f.course_id
"""


async def recompute_courses(
    conn: Conn, pairs: Sequence[tuple[str, str]]
) -> list[DomainEvent]:
    """Recompute the rollup of every given (user, course) in one statement.

    Returns the ``course.progressed`` / ``course.completed`` events of the rows that moved.
    """
    if not pairs:
        return []
    ordered = sorted(set(pairs))
    rows = await conn.fetch(
        RECOMPUTE_SQL, [u for u, _ in ordered], [c for _, c in ordered]
    )
    now = datetime.now(UTC)
    out: list[DomainEvent] = []
    for r in rows:
        pct = None if r["percent_complete"] is None else float(r["percent_complete"])
        old = None if r["old_percent"] is None else float(r["old_percent"])
        data = {
            "percent_complete": pct,
            "previous_percent_complete": old,
            "completed_chapters": r["completed_chapters"],
            "total_chapters": r["total_chapters"],
            "status": r["status"],
        }
        if (pct or 0) != (old or 0):
            at = r["last_activity_at"] or now
            out.append(DomainEvent(type="course.progressed", user_id=r["user_id"],
                                   course_id=r["course_id"], occurred_at=at, data=data))
        if r["status"] == "completed" and r["old_status"] != "completed":
            out.append(DomainEvent(type="course.completed", user_id=r["user_id"],
                                   course_id=r["course_id"],
                                   occurred_at=r["completed_at"] or now, data=data))
    return out
