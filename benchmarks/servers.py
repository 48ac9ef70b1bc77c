"""The fresh Redis and PostgreSQL every benchmark run starts for itself, and the Redis Cluster a
scaling run puts under the buffer."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

from redis.asyncio import Redis

from aggregator.db import migrate
from benchmarks.pgstats import STATEMENT_TIMING, enable_statement_timing
from devstack.cluster import LocalCluster
from devstack.servers import PostgresServer, RedisServer, free_port


@contextlib.asynccontextmanager
async def fresh_servers(prefix: str, *, statements: bool = False
                        ) -> AsyncIterator[tuple[RedisServer, PostgresServer]]:
    """Redis (AOF everysec) and a migrated PostgreSQL in a temporary directory, removed after;
    with ``statements``, PostgreSQL also times every statement (``pg_stat_statements``)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    pg_settings = STATEMENT_TIMING if statements else None
    redis = RedisServer(root / "redis", free_port())
    pg = PostgresServer(root / "pg", free_port(), settings=pg_settings)
    redis.start()
    pg.start()
    try:
        await migrate(pg.url)
        if statements:
            await enable_statement_timing(pg.url)
        yield redis, pg
    finally:
        pg.stop()
        redis.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def cluster_of(masters: int) -> Iterator[LocalCluster | None]:
    """A Redis Cluster of ``masters`` masters (no replicas) for the buffer, in a temporary
    directory removed after; ``None`` for one master: the run's single Redis is the buffer."""
    if masters <= 1:
        yield None
        return
    root = Path(tempfile.mkdtemp(prefix="waymark-run-cluster-"))
    cluster = LocalCluster(root, masters=masters, replicas=0)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


async def commandstats(nodes: Sequence[RedisServer]) -> dict[str, tuple[int, int]]:
    """Calls and microseconds per command since start, summed over ``nodes``."""
    total: dict[str, tuple[int, int]] = {}
    for node in nodes:
        async with Redis.from_url(node.url) as client:
            stats = await client.info("commandstats")
        for k, v in stats.items():
            calls, usec = total.get(k.removeprefix("cmdstat_"), (0, 0))
            total[k.removeprefix("cmdstat_")] = (calls + int(v["calls"]), usec + int(v["usec"]))
    return total


async def peak_memory_mb(nodes: Sequence[RedisServer]) -> float:
    """Redis's peak memory, summed over ``nodes``."""
    peak = 0
    for node in nodes:
        async with Redis.from_url(node.url) as client:
            peak += int((await client.info("memory"))["used_memory_peak"])
    return round(peak / 2**20, 1)
