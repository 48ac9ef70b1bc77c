"""How long the instructor's quiz statistics take over a quiz with many attempts.

Stores a course whose quiz has ``--questions`` keyed questions, writes ``--attempts`` counted
attempts (one learner each, every question answered, half of them right, with a time) straight
into ``quiz_attempts`` in one statement (its triggers keep the statistics' counters), then
times ``aggregator.quiz_reads.quiz_stats`` — what the
``GET /v1/courses/{c}/quizzes/{q}/stats`` route runs — and reports the median of ``--runs``.

    .venv/bin/python -m benchmarks.quiz_stats --attempts 100000 --questions 10

``--apply-batches N`` also measures the write side: N drained batches of 1000 attempts (one per
learner, with responses) through ``aggregator.apply.apply_batch`` — storage, reassessment,
grading, summaries, counters and domain events — and reports attempts applied per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

import asyncpg
import msgspec

from aggregator import catalog, quiz_catalog, quiz_reads
from aggregator.apply import apply_batch
from benchmarks.run import fresh_servers
from buffer.entries import CourseEntry, QuizRecord
from buffer.fold import CourseState
from buffer.keys import keyid
from buffer.merge_buffer import DrainedBatch

_pack = msgspec.msgpack.Encoder()
_json = msgspec.json.Encoder()

_FILL = """
INSERT INTO quiz_attempts (user_id, attempt_id, event_id, course_id, quiz_id, ts, score,
    max_score, passed, responses, client_score, client_max_score, percent, graded, status, items)
SELECT 'u' || a, 'a-1', 'e' || a, 'c-1', 'q-1', now() - interval '1 hour', s, $2, s >= 0.7 * $2,
       r, s, $2, 100.0 * s / $2, true, 'counted', i
FROM generate_series(1, $1) AS a,
LATERAL (SELECT jsonb_agg(jsonb_build_object(
            'question_id', 'k' || q,
            'answer_ids', jsonb_build_array(CASE WHEN (a + q) % 2 = 0 THEN 'a' ELSE 'b' END),
            'time_s', (a * q) % 60)) AS r,
          jsonb_agg(jsonb_build_array('k' || q, (a + q) % 2 = 0, (a * q) % 60)) AS i,
          count(*) FILTER (WHERE (a + q) % 2 = 0) AS s
         FROM generate_series(1, $2) AS q) AS x
"""


async def measure(database_url: str, attempts: int, questions: int, runs: int) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url)
    doc = catalog.CourseCatalog(title="bench", quizzes=[quiz_catalog.CatalogQuiz(
        quiz_id="q-1", questions=[quiz_catalog.CatalogQuestion(question_id=f"k{q}",
                                                          correct_answer_ids=["a"])
                                  for q in range(1, questions + 1)])])
    await catalog.store(conn, "c-1", doc)
    start = time.perf_counter()
    await conn.execute(_FILL, attempts, questions)
    fill_s = time.perf_counter() - start
    await conn.execute("VACUUM ANALYZE quiz_attempts")
    times = []
    stats = None
    for _ in range(runs):
        start = time.perf_counter()
        stats = await quiz_reads.quiz_stats(conn, "c-1", "q-1")
        times.append(time.perf_counter() - start)
    await conn.close()
    assert stats is not None and stats.attempts == attempts
    return {
        "attempts": attempts, "questions": questions,
        "stats_ms_median": round(1000 * statistics.median(times), 1),
        "stats_ms_min": round(1000 * min(times), 1),
        "percent_correct_k1": stats.questions[0].percent_correct,
        "median_percent": stats.median_percent,
        "fill_attempts_per_s_with_counters": round(attempts / fill_s),
    }


def _attempts_batch(n: int, questions: int, now: int) -> DrainedBatch:
    entries = []
    for k in range(1000):
        responses = [{"question_id": f"k{q}", "answer_ids": ["a" if (k + q) % 2 else "b"],
                      "time_s": q} for q in range(1, questions + 1)]
        record = QuizRecord("q-1", f"b{n}", None, now - 60_000 + n, 0, 1, None, None, responses)
        entry = CourseEntry(CourseState(), [(f"e{n}-{k}", _json.encode(record).decode())], now)
        entries.append((keyid(f"w{k}", "c-1"), _pack.encode(entry)))
    return DrainedBatch(0, f"quiz-{n}", entries)


async def apply_rate(database_url: str, batches: int, questions: int) -> int:
    """Attempts per second through the apply step (see module docstring)."""
    conn = await asyncpg.connect(database_url)
    now = int(time.time() * 1000)
    start = time.perf_counter()
    for n in range(batches):
        await apply_batch(conn, _attempts_batch(n, questions, now))
    seconds = time.perf_counter() - start
    await conn.close()
    return round(batches * 1000 / seconds)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with fresh_servers("waymark-quiz-") as (_, pg):
        out = await measure(pg.url, args.attempts, args.questions, args.runs)
        if args.apply_batches:
            out["apply_attempts_per_s"] = await apply_rate(pg.url, args.apply_batches,
                                                           args.questions)
        return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=100_000)
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--apply-batches", type=int, default=0)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
