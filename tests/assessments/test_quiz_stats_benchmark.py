"""The quiz statistics benchmark still runs, and its counters agree with its data."""

from __future__ import annotations

from benchmarks.quiz_stats import apply_rate, measure
from tests.servers import truncate_tables


async def test_the_quiz_statistics_benchmark_runs_and_reads_what_it_wrote(
    database_url: str,
) -> None:
    await truncate_tables(database_url)
    out = await measure(database_url, attempts=200, questions=3, runs=1)
    assert (out["attempts"], out["percent_correct_k1"]) == (200, 50.0)
    assert await apply_rate(database_url, batches=1, questions=3) > 0
