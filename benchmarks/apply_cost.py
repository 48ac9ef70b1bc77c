"""The apply step's CPU per row by batch size: the Python side and PostgreSQL's, apart.

The workers apply what they drain, and at a steady rate a shard is drained in batches far
smaller than the 1000 keys of the apply ceiling (the full run reports ``keys_per_batch``). This
applies the heartbeat's first writes (new chapter rows, 8 per learner, one course) in batches
of ``--learners`` learners, one after the other on one connection, and reports the CPU each side
spent per row: what a batch costs whatever its size shows as the difference between sizes.

    .venv/bin/python -m benchmarks.apply_cost --learners 17 125 [--statements]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
import uuid
from typing import Any

import asyncpg

from aggregator.apply import apply_batch
from benchmarks.ceilings import _entry
from benchmarks.pgstats import statement_interval, statement_stats
from benchmarks.run import cpu_s, server_pids
from benchmarks.servers import fresh_servers
from buffer.merge_buffer import DrainedBatch
from waymark.runtime import tune_gc

CHAPTERS = 8


async def measure(learners: int, rows: int, statements: bool) -> dict[str, Any]:
    async with fresh_servers("waymark-apply-cost-", statements=statements) as (redis, pg):
        conn = await asyncpg.connect(pg.url)
        seq = itertools.count()
        first_user = itertools.count(step=learners)

        def batch() -> DrainedBatch:
            now, u0 = int(time.time() * 1000), next(first_user)
            return DrainedBatch(0, f"cost-{uuid.uuid4().hex}", [
                _entry(u, c, next(seq), now)
                for u in range(u0, u0 + learners) for c in range(CHAPTERS)])

        try:
            for _ in range(5):  # warm-up: connection, prepared statements
                await apply_batch(conn, batch())
            n = max(1, rows // (learners * CHAPTERS))
            batches = [batch() for _ in range(n)]
            before = await statement_stats(conn) if statements else {}
            await asyncio.sleep(0.5)
            pg0 = sum(cpu_s(p) for p in server_pids(redis, pg)["postgres"])
            py0, wall0 = time.process_time(), time.monotonic()
            for b in batches:
                await apply_batch(conn, b)
            py1, wall1 = time.process_time(), time.monotonic()
            pg1 = sum(cpu_s(p) for p in server_pids(redis, pg)["postgres"])
            after = await statement_stats(conn) if statements else {}
        finally:
            await conn.close()
    written = n * learners * CHAPTERS
    return {
        "keys_per_batch": learners * CHAPTERS, "batches": n, "rows": written,
        "python_cpu_us_per_row": round((py1 - py0) * 1e6 / written, 1),
        "postgres_cpu_us_per_row": round((pg1 - pg0) * 1e6 / written, 1),
        "wall_us_per_row": round((wall1 - wall0) * 1e6 / written, 1),
        **({"statements": statement_interval(before, after)} if statements else {}),
    }


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    return [await measure(n, args.rows, args.statements) for n in args.learners]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--learners", type=int, nargs="+", default=[17, 125],
                    help="learners per batch (8 chapter rows each), one measurement per value")
    ap.add_argument("--rows", type=int, default=40_000, help="rows written per measurement")
    ap.add_argument("--statements", action="store_true",
                    help="time every statement (pg_stat_statements; costs a few per cent)")
    ap.add_argument("--default-gc", action="store_true",
                    help="keep Python's default garbage collector (the workers tune it)")
    parsed = ap.parse_args()
    if not parsed.default_gc:
        tune_gc()  # as waymark worker does
    print(json.dumps(asyncio.run(main(parsed))))
