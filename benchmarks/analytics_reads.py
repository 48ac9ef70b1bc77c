"""Learning-analytics reads at size: a learner with two years of daily activity, a big course.

Seeds a fresh PostgreSQL with SQL (``generate_series``, the rows the apply step would have
written), then times the real read functions through one connection, as the HTTP handlers call
them:

- one learner active every day for two years (730 activity days, two sessions a day, 120
  chapters completed along the way in one course): weekly and monthly reports, the course's
  progress history over the two years, sessions of the last 30 days and the forecast;
- one course of ``--learners`` learners (default 100 000) with 20 chapters, two quizzes and
  about ten activity days each: the course stats and the whole course report (what the HTML
  page renders from).

    .venv/bin/python -m benchmarks.analytics_reads [--learners 100000] [--repeat 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from aggregator import course_report, learner_analytics, report_rules
from benchmarks.run import fresh_servers

CHAPTERS = 20
LEARNER = "heavy"
TODAY = datetime.now(UTC).date()

_SEED_LEARNER = """
INSERT INTO courses (course_id, title, structure_hash, doc)
VALUES ('long', 'Two years', 'x', '{{}}'), ('big', 'Big course', 'y', '{{}}');
INSERT INTO course_chapters (course_id, chapter_id, module_id, position, weight, required)
SELECT 'long', 'ch-' || i, 'm', i, 1, true FROM generate_series(1, 150) i;
INSERT INTO course_chapters (course_id, chapter_id, module_id, position, weight, required)
SELECT 'big', 'ch-' || i, 'm' || (i / 5), i, 1, true FROM generate_series(1, {chapters}) i;
INSERT INTO course_progress (user_id, course_id, percent_complete, status, started_at,
                             last_activity_at, last_accessed_at)
VALUES ('heavy', 'long', 80, 'in_progress', now() - interval '730 days', now(), now());
INSERT INTO daily_activity (user_id, day, time_spent_ms, events)
SELECT 'heavy', current_date - d, 1800000, 40 FROM generate_series(0, 729) d;
INSERT INTO course_activity_days (user_id, course_id, day)
SELECT 'heavy', 'long', current_date - d FROM generate_series(0, 729) d;
INSERT INTO learner_sessions (user_id, started_ms, ended_ms, events, time_spent_ms, touched)
SELECT 'heavy', (extract(epoch FROM current_date - d) * 1000)::bigint + h * 36000000,
       (extract(epoch FROM current_date - d) * 1000)::bigint + h * 36000000 + 900000, 20, 900000,
       '\\x9291a46c6f6e679192a46c6f6e67a463682d31'::bytea
FROM generate_series(0, 729) d, generate_series(0, 1) h;
INSERT INTO chapter_progress (user_id, course_id, chapter_id, progress, completed, completed_at,
                              first_activity_at, last_activity_at)
SELECT 'heavy', 'long', 'ch-' || i, 100, true, now() - (i * 6) * interval '1 day',
       now() - (i * 6 + 1) * interval '1 day', now() - (i * 6) * interval '1 day'
FROM generate_series(1, 120) i;
INSERT INTO quiz_attempts (attempt_id, event_id, user_id, course_id, quiz_id, ts, score,
                           max_score, passed, client_score, client_max_score, percent)
SELECT 'a' || i, 'e' || i, 'heavy', 'long', 'q' || (i % 30), now() - i * interval '1 day', 8, 10,
       true, 8, 10, 80 FROM generate_series(1, 400) i;
"""
_SEED_COURSE = """
INSERT INTO course_progress (user_id, course_id, percent_complete, completed_chapters,
    total_chapters, status, started_at, last_activity_at, last_accessed_at, completed_at,
    time_spent_ms)
SELECT 'u' || u, 'big', (u % 21) * 5, u % 21, {chapters},
       CASE WHEN u % 21 = 20 THEN 'completed' ELSE 'in_progress' END,
       now() - (u % 90 + 30) * interval '1 day', now() - (u % 40) * interval '1 day',
       now() - (u % 40) * interval '1 day',
       CASE WHEN u % 21 = 20 THEN now() - (u % 30) * interval '1 day' END, u % 7200000
FROM generate_series(1, {learners}) u;
INSERT INTO chapter_progress (user_id, course_id, chapter_id, progress, completed, completed_at,
                              first_activity_at, last_activity_at)
SELECT 'u' || u, 'big', 'ch-' || c, 100, true, now() - interval '40 days',
       now() - interval '50 days', now() - interval '40 days'
FROM generate_series(1, {learners}) u, generate_series(1, {chapters}) c WHERE c <= u % 21;
INSERT INTO quiz_summary (user_id, course_id, quiz_id, attempts, passed)
SELECT 'u' || u, 'big', 'q' || q, 1 + u % 3, u % 4 <> 0
FROM generate_series(1, {learners}) u, generate_series(1, 2) q;
INSERT INTO course_activity_days (user_id, course_id, day)
SELECT 'u' || u, 'big', current_date - ((u * 7 + k * 13) % 180)
FROM generate_series(1, {learners}) u, generate_series(1, 10) k ON CONFLICT DO NOTHING;
"""


async def timed(
    conn: asyncpg.Connection, repeat: int, read: Callable[[asyncpg.Connection], Awaitable[Any]]
) -> dict[str, float]:
    for _ in range(3):  # warm the plan cache and the buffers
        await read(conn)
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        await read(conn)
        runs.append((time.perf_counter() - t) * 1000)
    runs.sort()
    return {"p50_ms": round(statistics.median(runs), 2),
            "p99_ms": round(runs[min(len(runs) - 1, int(len(runs) * 0.99))], 2),
            "max_ms": round(runs[-1], 2), "runs": repeat}


async def measure(database_url: str, learners: int, repeat: int) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url)
    try:
        t = time.perf_counter()
        await conn.execute(_SEED_LEARNER.format(chapters=CHAPTERS))
        await conn.execute(_SEED_COURSE.format(chapters=CHAPTERS, learners=learners))
        await conn.execute("VACUUM ANALYZE")  # as autovacuum leaves a table that stopped growing
        seeded_s = round(time.perf_counter() - t, 1)
        now = datetime.now(UTC)
        week = report_rules.week_of(TODAY - timedelta(days=7))
        month = report_rules.month_of(TODAY.replace(day=1) - timedelta(days=1))
        two_years = (TODAY - timedelta(days=729), TODAY)

        learner = {
            "weekly_report": await timed(conn, repeat, lambda c: learner_analytics.report(
                c, LEARNER, week)),
            "monthly_report": await timed(conn, repeat, lambda c: learner_analytics.report(
                c, LEARNER, month)),
            "history_two_years": await timed(conn, repeat, lambda c: learner_analytics.history(
                c, LEARNER, "long", *two_years)),
            "sessions_30_days": await timed(conn, repeat, lambda c: learner_analytics.sessions(
                c, LEARNER, TODAY - timedelta(days=29), TODAY)),
            "forecast": await timed(conn, repeat, lambda c: learner_analytics.forecast(
                c, LEARNER, "long", now, 14)),
        }
        few = max(5, repeat // 20)
        course = {
            "course_stats": await timed(conn, few, lambda c: course_report.stats_view(
                c, "big", now, 14)),
            "course_report": await timed(conn, few, lambda c: course_report.report(
                c, "big", now, 14)),
        }
        return {"learners_in_course": learners, "seed_s": seeded_s,
                "learner_two_years": learner, "course": course}
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with fresh_servers("waymark-analytics-") as (_, pg):
        return await measure(pg.url, args.learners, args.repeat)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
