"""The cluster tier: the same pipeline tests on a real Redis Cluster (3 masters, 3 replicas).

The session starts one local cluster (``devstack.cluster``) beside the session's single Redis,
which holds the job queue (arq needs one Redis). ``redis_url`` here names a cluster node, so
every fixture built on it — the app, the pipeline, the settings — runs on the cluster. A test
that killed a node gets a healed cluster back before the next one starts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from devstack.cluster import LocalCluster
from devstack.servers import RedisServer
from tests.faults.harness import Stack
from waymark.settings import Settings


@pytest.fixture(scope="session")
def redis_cluster(server_root: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(server_root / "cluster", masters=3, replicas=1)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def queue_redis_url(redis_server: RedisServer) -> str:
    """The session's single Redis, emptied: the job queue's."""
    redis_server.start()
    with redis.Redis.from_url(redis_server.url, socket_timeout=10) as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def redis_url(redis_cluster: LocalCluster, queue_redis_url: str) -> str:
    """The session cluster, whole again and emptied before the test."""
    redis_cluster.heal()
    redis_cluster.flush()
    return redis_cluster.url


@pytest.fixture
def settings(settings: Settings, queue_redis_url: str) -> Settings:
    return settings.replace(queue_redis_url=queue_redis_url)


@pytest.fixture
async def stack(redis_url: str, queue_redis_url: str, database_url: str,
                tmp_path: Path) -> AsyncIterator[Stack]:
    """The fault tier's processes on the cluster, the job queue on the single Redis."""
    s = Stack(redis_url, database_url, tmp_path, queue_redis_url=queue_redis_url)
    try:
        yield s
    finally:
        s.stop()
