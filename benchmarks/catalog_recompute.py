"""How long a catalog change takes to reach every learner of a course.

Starts its own PostgreSQL in a temporary directory, seeds ``--learners`` learner-courses of one
course (``--chapters`` catalog chapters, each learner with progress on about half of them), stores
a new catalog version (one chapter added) and times the background recompute exactly as the
worker's ``recompute_course`` job runs it (batches of ``--batch``, ``--pause`` seconds between).

    .venv/bin/python -m benchmarks.catalog_recompute --learners 100000

Prints a JSON object; benchmarks/README.md has the figures measured here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path

from aggregator import catalog
from aggregator.db import create_pool, migrate
from aggregator.recompute import recompute_catalog
from devstack.servers import PostgresServer, free_port

COURSE = "bench-course"


def _catalog(chapters: int, extra: bool) -> catalog.CourseCatalog:
    chs = [catalog.CatalogChapter(chapter_id=f"ch-{i}") for i in range(chapters)]
    if extra:
        chs.append(catalog.CatalogChapter(chapter_id="ch-new", weight=2))
    return catalog.CourseCatalog(
        title="bench", modules=[catalog.CatalogModule(module_id="m", chapters=chs)]
    )


_SEED_CHAPTERS = """
INSERT INTO chapter_progress (user_id, course_id, chapter_id, progress, completed, completed_at,
                              time_spent_ms, first_activity_at, last_activity_at)
SELECT 'u-' || u, $1, 'ch-' || c, 100, true, now(), 60000, now(), now()
FROM generate_series(1, $2) u, generate_series(0, $3 - 1) c
WHERE (u + c) % 2 = 0
"""
_SEED_COURSES = """
INSERT INTO course_progress (user_id, course_id, last_accessed_at)
SELECT 'u-' || u, $1, now() FROM generate_series(1, $2) u
"""


async def run(args: argparse.Namespace, dsn: str) -> dict[str, object]:
    await migrate(dsn)
    pool = await create_pool(dsn, max_size=4)
    try:
        async with pool.acquire() as conn:
            v1, _ = await catalog.store(conn, COURSE, _catalog(args.chapters, False))
            t0 = time.perf_counter()
            await conn.execute(_SEED_COURSES, COURSE, args.learners)
            await conn.execute(_SEED_CHAPTERS, COURSE, args.learners, args.chapters)
            await conn.execute("ANALYZE")
            seeded_s = time.perf_counter() - t0
        await recompute_catalog(pool, COURSE, v1, batch=args.batch, pause_s=0)  # warm, v1
        async with pool.acquire() as conn:
            v2, moved = await catalog.store(conn, COURSE, _catalog(args.chapters, True))
        assert moved
        t0 = time.perf_counter()
        done = await recompute_catalog(pool, COURSE, v2, batch=args.batch, pause_s=args.pause)
        elapsed = time.perf_counter() - t0
        async with pool.acquire() as conn:
            events = await conn.fetchval("SELECT count(*) FROM outbox")
            pct = await conn.fetchval(
                "SELECT avg(percent_complete)::float8 FROM course_progress WHERE course_id = $1",
                COURSE,
            )
    finally:
        await pool.close()
    return {
        "learners": args.learners, "chapters": args.chapters, "batch": args.batch,
        "pause_s": args.pause, "seed_s": round(seeded_s, 1), "recomputed": done,
        "recompute_s": round(elapsed, 2), "learners_per_s": round(done / elapsed),
        "outbox_events": events, "avg_percent_after": round(pct, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=100_000)
    parser.add_argument("--chapters", type=int, default=10)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--pause", type=float, default=0.01)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="waymark-bench-"))
    root.chmod(0o755)
    server = PostgresServer(root / "pg", free_port(), fast=True)
    server.start()
    try:
        result = asyncio.run(run(args, server.url))
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
