"""Course export: peak RSS of ``waymark serve`` while it streams a course of many learners.

    .venv/bin/python -m benchmarks.course_export --learners 100000 --chapters 10

Seeds (with COPY) a small course of ``learners / 10`` and a large one of ``learners``, each with
``chapters`` catalog chapters and every learner active on about half of them, then downloads
``GET /v1/courses/{c}/export.csv`` of the small course and then of the large one from a real
``waymark serve``. The server's peak RSS (VmHWM) is read before, after the small export and after
the large one: flat memory means the large export adds (almost) nothing to the small one's peak.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import msgspec

from benchmarks.run import KEY, WaymarkProcesses, fresh_servers, memory_mb, wait_http


async def seed(dsn: str, course_id: str, learners: int, chapters: int) -> None:
    catalog = {"modules": [{"module_id": "m1", "chapters": [
        {"chapter_id": f"ch-{i:02d}", "weight": 1, "required": True} for i in range(chapters)]}]}
    now = datetime.now(UTC)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO courses (course_id, structure_hash, doc) VALUES ($1, 'bench', $2)",
            course_id, msgspec.json.encode(catalog).decode())
        await conn.copy_records_to_table("course_chapters", records=[
            (course_id, f"ch-{i:02d}", "m1", i, 1.0, True, None) for i in range(chapters)],
            columns=["course_id", "chapter_id", "module_id", "position", "weight", "required",
                     "kind"])
        await conn.copy_records_to_table("course_progress", records=[
            (f"{course_id}-u{n:06d}", course_id, 50.0, "in_progress", now, now)
            for n in range(learners)],
            columns=["user_id", "course_id", "percent_complete", "status", "started_at",
                     "last_activity_at"])
        await conn.copy_records_to_table("chapter_progress", records=[
            (f"{course_id}-u{n:06d}", course_id, f"ch-{i:02d}", 100.0, True, now, 12_000, now,
             now)
            for n in range(learners) for i in range(chapters) if (n + i) % 2 == 0],
            columns=["user_id", "course_id", "chapter_id", "progress", "completed",
                     "completed_at", "time_spent_ms", "first_activity_at", "last_activity_at"])
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def download(url: str, course_id: str) -> dict[str, float]:
    start = time.perf_counter()
    lines = size = 0
    async with aiohttp.ClientSession() as s, s.get(
        f"{url}/v1/courses/{course_id}/export.csv", headers={"Authorization": f"Bearer {KEY}"},
        timeout=aiohttp.ClientTimeout(total=3600),
    ) as r:
        assert r.status == 200, await r.text()
        async for chunk in r.content.iter_chunked(1 << 16):
            size += len(chunk)
            lines += chunk.count(b"\n")
    seconds = time.perf_counter() - start
    return {"rows": lines - 1, "mb": round(size / 1e6, 1), "seconds": round(seconds, 2),
            "rows_per_s": round((lines - 1) / seconds)}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    small, large = max(1, args.learners // 10), args.learners
    async with fresh_servers("waymark-export-") as (redis, pg):
        await seed(pg.url, "small", small, args.chapters)
        await seed(pg.url, "large", large, args.chapters)
        procs = WaymarkProcesses(redis, pg, workers=0, ingest=1, start_workers=False)
        try:
            await wait_http(procs.url)
            pid = procs.serves[0].pid
            out: dict[str, Any] = {"learners": {"small": small, "large": large},
                                   "chapters": args.chapters,
                                   "serve_peak_rss_mb_at_start": memory_mb(pid)}
            out["small"] = await download(procs.url, "small")
            out["serve_peak_rss_mb_after_small"] = memory_mb(pid)
            out["large"] = await download(procs.url, "large")
            out["serve_peak_rss_mb_after_large"] = memory_mb(pid)
        finally:
            procs.stop()
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=100_000)
    parser.add_argument("--chapters", type=int, default=10)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
