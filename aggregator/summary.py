"""Per-user and per-day aggregates, kept current for the rows a batch touches (quiz summaries:
``aggregator.quizzes``).

Each function takes the keys a batch affected and recomputes (user) or adds to (day) only
those rows, with one set-based statement; keys are sorted so concurrent batches lock in the same
order. Daily activity is counted from what a buffer entry knows: every event still in a chapter
state's tail counts on its own day; a base (events already folded in the merge buffer when more
than ``TAIL_LIMIT`` arrived within one merge window) counts as one event with all its time, on the
day of its latest event. A user's course counts and average progress leave out dropped and
invisible course records (``aggregator.enrollment_rules``); chapters, time and streaks keep them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from aggregator.db import Conn
from aggregator.enrollment_rules import active_sql
from buffer.fold import VIEWED, ChapterState

Day = tuple[str, date]

_ADD_ACTIVITY = """
INSERT INTO daily_activity AS t (user_id, day, time_spent_ms, events)
SELECT * FROM unnest($1::text[], $2::date[], $3::int8[], $4::int4[]) ORDER BY 1, 2
ON CONFLICT (user_id, day) DO UPDATE SET
    time_spent_ms = t.time_spent_ms + excluded.time_spent_ms, events = t.events + excluded.events
"""

_USER_SUMMARY = """
-- Each learner's rows are read through the primary keys (user_id leads them) by LATERAL
-- subqueries, whatever the planner's statistics say: with a join, a table that grew since its
-- last ANALYZE was scanned whole for a handful of learners (tens of ms per batch, growing).
WITH u AS (SELECT DISTINCT user_id FROM unnest($1::text[]) AS u(user_id)),
c AS (  -- course counts and avg_progress over active records; time and activity over all
    SELECT u.user_id, x.* FROM u CROSS JOIN LATERAL (
        SELECT count(cp.course_id) FILTER (WHERE {active}) AS total,
               count(*) FILTER (WHERE {active} AND cp.status = 'completed') AS completed,
               count(*) FILTER (WHERE {active} AND cp.status = 'in_progress') AS in_progress,
               coalesce(sum(cp.time_spent_ms), 0) AS time_spent_ms,
               coalesce(avg(cp.percent_complete) FILTER (WHERE {active}), 0)::float8
                   AS avg_progress,
               max(greatest(cp.last_activity_at, cp.last_accessed_at)) AS last_activity_at
        FROM course_progress cp WHERE cp.user_id = u.user_id) x
),
ch AS (
    SELECT u.user_id, x.chapters FROM u CROSS JOIN LATERAL (
        SELECT count(*) AS chapters FROM chapter_progress cp
        WHERE cp.user_id = u.user_id AND cp.completed) x
),
d AS (
    SELECT u.user_id, x.day, x.grp FROM u CROSS JOIN LATERAL (
        SELECT da.day,
               da.day - (row_number() OVER (ORDER BY da.day))::int AS grp
        FROM daily_activity da WHERE da.user_id = u.user_id) x
),
islands AS (
    SELECT user_id, count(*) AS len, max(day) AS end_day FROM d GROUP BY user_id, grp
),
s AS (
    SELECT user_id, max(len) AS longest, (array_agg(len ORDER BY end_day DESC))[1] AS last_len,
           max(end_day) AS last_end
    FROM islands GROUP BY user_id
)
INSERT INTO user_summary AS t (user_id, courses_total, courses_completed, courses_in_progress,
    chapters_completed, time_spent_ms, avg_progress, longest_streak_days, streak_days,
    streak_end, last_activity_at, updated_at)
SELECT c.user_id, c.total, c.completed, c.in_progress, ch.chapters, c.time_spent_ms,
       round(c.avg_progress::numeric, 2)::float8, coalesce(s.longest, 0),
       coalesce(s.last_len, 0), s.last_end, c.last_activity_at, now()
FROM c JOIN ch USING (user_id) LEFT JOIN s USING (user_id)
ORDER BY c.user_id
ON CONFLICT (user_id) DO UPDATE SET
    courses_total = excluded.courses_total, courses_completed = excluded.courses_completed,
    courses_in_progress = excluded.courses_in_progress,
    chapters_completed = excluded.chapters_completed, time_spent_ms = excluded.time_spent_ms,
    avg_progress = excluded.avg_progress, longest_streak_days = excluded.longest_streak_days,
    streak_days = excluded.streak_days, streak_end = excluded.streak_end,
    last_activity_at = excluded.last_activity_at, updated_at = now()
""".replace("{active}", active_sql("cp."))


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAY_MS = 86_400_000


def utc_day(ms: int) -> date:
    """The UTC calendar day of an epoch time in ms (by whole days: no datetime per event)."""
    return date.fromordinal(_EPOCH_ORDINAL + ms // _DAY_MS)


def chapter_activity(
    chapters: Mapping[tuple[str, str, str], ChapterState],
    other_events: Iterable[tuple[str, int]] = (),
) -> dict[Day, tuple[int, int]]:
    """(time ms, events) per (user, day) of newly applied buffer entries (see module doc)."""
    out: dict[Day, tuple[int, int]] = {}

    def add(user: str, ts: int, time_ms: int, n: int) -> None:
        key = (user, utc_day(ts))
        t, e = out.get(key, (0, 0))
        out[key] = (t + time_ms, e + n)

    for (user, _, _), state in chapters.items():
        if not state.base.empty:
            add(user, state.base.last_ts, state.base.time_ms, 1)
        for ev in state.tail:
            if ev.kind != VIEWED:  # a view is course-level activity, not counted here
                add(user, ev.ts, ev.time_ms, 1)
    for user, ts in other_events:
        add(user, ts, 0, 1)
    return out


async def add_activity(conn: Conn, days: Mapping[Day, tuple[int, int]]) -> None:
    if not days:
        return
    keys = sorted(days)
    await conn.execute(
        _ADD_ACTIVITY,
        [u for u, _ in keys],
        [d for _, d in keys],
        [days[k][0] for k in keys],
        [days[k][1] for k in keys],
    )


async def refresh_users(conn: Conn, users: Iterable[str]) -> None:
    """Recompute the summary of the given users from their course rows and activity days."""
    us = sorted(set(users))
    if us:
        await conn.execute(_USER_SUMMARY, us)
