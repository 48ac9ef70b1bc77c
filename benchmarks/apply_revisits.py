"""The apply step when learners come back: heartbeats to chapter rows that already exist.

The full run's heartbeat visits 400 000 keys round-robin, so in a 10-second run no key is
written twice and every course rollup is a learner's first. A learner watching a video sends a
heartbeat every 10 s, so in a steady state nearly every batch revisits rows. This writes every
key of a smaller key space once (the warm-up), then measures the apply ceiling (2 connections,
1000-key batches, no Redis, no HTTP) over the same keys again, with PostgreSQL's CPU per row
and, for the measured interval, each written table's updates and the share of them that were
HOT (heap-only: no index touched); ``--statements`` adds the costliest statements.

    .venv/bin/python -m benchmarks.apply_revisits --users 2000 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import asyncpg

from benchmarks.ceilings import apply_ceiling
from benchmarks.pgstats import (
    WRITTEN,
    statement_interval,
    statement_stats,
    table_interval,
    table_stats,
)
from benchmarks.run import cpu_s, server_pids
from benchmarks.servers import fresh_servers
from benchmarks.workloads import WORKLOADS, Workload


async def main(args: argparse.Namespace) -> dict[str, Any]:
    WORKLOADS["revisit"] = Workload("revisit", users=args.users, chapters=8, batch=50)
    async with fresh_servers("waymark-revisit-", statements=args.statements) as (redis, pg):
        warm = await apply_ceiling(pg.url, "revisit", args.warmup)
        conn = await asyncpg.connect(pg.url)
        try:
            rows = await conn.fetchval("SELECT count(*) FROM chapter_progress")
            await asyncio.sleep(0.5)  # closed backends reaped: their CPU is the postmaster's
            tables, statements = await readings(conn, args.statements)
            before = sum(cpu_s(p) for p in server_pids(redis, pg)["postgres"])
            measured = await apply_ceiling(pg.url, "revisit", args.seconds)
            await asyncio.sleep(0.5)
            after = sum(cpu_s(p) for p in server_pids(redis, pg)["postgres"])
            tables_after, statements_after = await readings(conn, args.statements)
        finally:
            await conn.close()
    return {
        "keys": args.users * 8, "warm_rows_per_s": warm["rows_per_s"], "rows_after_warmup": rows,
        "rows_per_s": measured["rows_per_s"],
        "postgres_cpu_us_per_row": round((after - before) * 1e6
                                         / max(1, measured["rows_per_s"] * args.seconds), 1),
        "tables": table_interval(tables, tables_after, WRITTEN),
        **({"statements": statement_interval(statements, statements_after)}
           if args.statements else {}),
    }


async def readings(conn: asyncpg.Connection, statements: bool
                   ) -> tuple[dict[str, dict[str, int]], dict[int, dict[str, Any]]]:
    return await table_stats(conn), (await statement_stats(conn) if statements else {})


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=2000, help="learners, 8 chapters each")
    ap.add_argument("--warmup", type=float, default=10)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--statements", action="store_true",
                    help="time every statement (pg_stat_statements; costs a few per cent)")
    print(json.dumps(asyncio.run(main(ap.parse_args()))))
