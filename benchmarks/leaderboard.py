"""How long a points leaderboard takes over many learners: the top N and a learner's own rank.

Fills ``points_totals`` with ``--learners`` learners (global scope, all time and this week,
points spread over a range so ties are common, every tenth learner opted out) in one statement,
then times ``aggregator.points.leaderboard`` — what ``GET /v1/leaderboards/points`` runs — for
the top ``--limit`` alone and with the own rank of a learner near the top, in the middle and
last, and reports the median of ``--runs`` each.

    .venv/bin/python -m benchmarks.leaderboard --learners 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg

from aggregator import points
from aggregator.achievement_rules import current_period
from benchmarks.servers import fresh_servers

_FILL = """
INSERT INTO points_totals (user_id, scope, period, points, hidden)
SELECT 'u' || lpad(n::text, 8, '0'), '', p, (n::int8 * 7919) % 50000, n % 10 = 0
FROM generate_series(1, $1) AS n, unnest(ARRAY['all', $2]) AS p
"""


async def _median_ms(conn: asyncpg.Connection[Any], runs: int, me: str | None,
                     limit: int) -> tuple[float, Any]:
    today = datetime.now(UTC).date()
    times, board = [], None
    for _ in range(runs):
        start = time.perf_counter()
        board = await points.leaderboard(conn, None, "all", limit, today, me)
        times.append(time.perf_counter() - start)
    return round(1000 * statistics.median(times), 1), board


async def measure(database_url: str, learners: int, limit: int, runs: int) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url)
    week = current_period("week", datetime.now(UTC).date())
    start = time.perf_counter()
    await conn.execute(_FILL, learners, week)
    fill_s = time.perf_counter() - start
    await conn.execute("VACUUM ANALYZE points_totals")
    out: dict[str, Any] = {"learners": learners, "limit": limit,
                           "fill_s": round(fill_s, 1)}
    out["top_ms"], board = await _median_ms(conn, runs, None, limit)
    assert len(board.leaders) == limit
    top_user = board.leaders[0].user_id
    ranked = await conn.fetch(
        "SELECT user_id FROM points_totals WHERE scope = '' AND period = 'all' AND NOT hidden"
        " AND points > 0 ORDER BY points DESC, user_id")
    for name, user in (("rank_top_ms", top_user), ("rank_middle_ms", ranked[len(ranked) // 2][0]),
                       ("rank_last_ms", ranked[-1][0])):
        out[name], board = await _median_ms(conn, runs, user, limit)
        assert board.me is not None and board.me.user_id == user
    out["ranked_learners"] = len(ranked)
    await conn.close()
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with fresh_servers("waymark-leaderboard-") as (_, pg):
        return await measure(pg.url, args.learners, args.limit, args.runs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=1_000_000)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
