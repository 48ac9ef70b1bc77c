"""Waymark on a Redis Cluster: detection, shards over the masters, the queue, replica acks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer
from arq.connections import RedisSettings, create_pool
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import RedisError

from buffer.keys import shard_key
from buffer.layout import SHARDS_KEY
from devstack.cluster import LocalCluster
from ingest.app import SERVER_OPTIONS, create_app
from tests.buffer.test_shard_count import write_events
from tests.helpers import CATALOG, auth, event
from tests.integration.test_merge_property import assert_reference_state
from tests.pipeline import Pipeline
from waymark.bootstrap import open_backends, redis_client
from waymark.settings import Settings, SettingsError


@pytest.fixture
async def app_with(settings: Settings) -> AsyncIterator[object]:
    """Open test clients of the app with changed settings; all closed at the end."""
    opened: list[TestClient] = []

    async def open_client(**changes: object) -> TestClient:
        server = TestServer(create_app(settings.replace(**changes)))
        await server.start_server(**SERVER_OPTIONS)
        c = TestClient(server)
        await c.start_server()
        opened.append(c)
        return c

    yield open_client
    for c in opened:
        await c.close()


async def test_a_url_naming_any_node_of_a_cluster_gets_a_cluster_client(
    redis_cluster: LocalCluster, settings: Settings, queue_redis_url: str,
) -> None:
    for node in redis_cluster.nodes:  # masters and replicas alike
        client = await redis_client(settings.replace(redis_url=f"redis://127.0.0.1:{node.port}"))
        assert isinstance(client, RedisCluster)
        await client.aclose()
    single = await redis_client(settings.replace(redis_url=queue_redis_url))
    assert isinstance(single, Redis)
    await single.aclose()


async def test_the_shards_of_the_buffer_spread_over_all_three_masters(
    client: TestClient, redis_cluster: LocalCluster, settings: Settings,
) -> None:
    events = [event("chapter_progress", user_id=f"u-{i}", chapter_id="ch-1", progress=10)
              for i in range(40)]
    resp = await client.post("/v1/events", json={"events": events}, headers=auth())
    assert resp.status == 202 and (await resp.json())["accepted"] == 40
    masters = redis_cluster.master_ports()
    assert len(masters) == 3
    holding = set()
    for port in masters:
        with redis.Redis(port=port) as node:
            if node.dbsize():
                holding.add(port)
    assert holding == set(masters)
    slots = {redis_cluster.master_of_slot(key_slot(shard_key(s, "buf").encode()))
             for s in range(settings.shards)}
    assert slots == set(masters)


async def test_arq_cannot_keep_its_job_queue_on_a_cluster(redis_cluster: LocalCluster) -> None:
    """Why ``WAYMARK_QUEUE_REDIS_URL`` exists: arq's keys share no slot and it uses MULTI."""
    queue = await create_pool(RedisSettings.from_dsn(redis_cluster.url))
    try:
        with pytest.raises(RedisError):
            for shard in range(20):  # some job key or the queue key is on another master
                await queue.enqueue_job("flush_shard", shard, _job_id=f"flush:{shard}:0")
    finally:
        await queue.aclose()


async def test_a_batch_the_replicas_do_not_confirm_is_refused_and_its_retry_counts_once(
    app_with: object, pipeline: Pipeline, redis_cluster: LocalCluster, database_url: str,
) -> None:
    open_client = app_with
    waiting = await open_client(redis_wait_replicas=1, redis_wait_timeout_ms=300)  # type: ignore[operator]
    resp = await waiting.put("/v1/courses/c-1", json=CATALOG, headers=auth())
    assert resp.status == 200
    batch = [event("chapter_progress", user_id=u, chapter_id="ch-1", progress=40,
                   time_spent_s=30) for u in ("u-1", "u-2")]
    assert (await waiting.post("/v1/events", json={"events": batch}, headers=auth())).status == 202
    # the replica of u-1's master stops answering: the master takes writes, WAIT times out
    master = redis_cluster.master_of_slot(
        key_slot(shard_key(pipeline.buffer.shard_of("u-1"), "buf").encode()))
    replica = redis_cluster.node(redis_cluster.replicas_of(master)[0])
    again = [dict(ev, id=ev["id"] + "-b", progress=80) for ev in batch]
    replica.pause()
    try:
        resp = await waiting.post("/v1/events", json={"events": again}, headers=auth())
        assert resp.status == 503, await resp.text()
    finally:
        replica.resume()
    resp = await waiting.post("/v1/events", json={"events": again}, headers=auth())
    body = await resp.json()
    assert resp.status == 202 and body["accepted"] + body["duplicates"] == 2, body
    await pipeline.flush()
    await assert_reference_state(batch + again, database_url)


async def test_a_single_redis_without_replicas_refuses_a_batch_when_one_is_asked_for(
    app_with: object, settings: Settings, queue_redis_url: str,
) -> None:
    open_client = app_with
    single = await open_client(  # type: ignore[operator]
        redis_url=queue_redis_url, redis_wait_replicas=1, redis_wait_timeout_ms=100)
    batch = [event("chapter_progress", chapter_id="ch-1", progress=5)]
    resp = await single.post("/v1/events", json={"events": batch}, headers=auth())
    assert resp.status == 503
    with redis.Redis.from_url(queue_redis_url) as r:  # the master keeps it: a retry is a dup
        assert r.exists(shard_key(0, "buf")) + sum(
            r.exists(shard_key(s, "buf")) for s in range(1, settings.shards)) == 1


async def test_a_cluster_without_a_queue_redis_is_refused_at_start_with_a_clear_error(
    redis_cluster: LocalCluster, database_url: str,
) -> None:
    bare = Settings(redis_url=redis_cluster.url, database_url=database_url)
    with pytest.raises(SettingsError, match="WAYMARK_QUEUE_REDIS_URL"):
        async with open_backends(bare):
            pass


async def test_the_shard_count_is_checked_on_a_cluster_too(settings: Settings) -> None:
    async with open_backends(settings) as backends:
        await write_events(backends.buffer, [f"u{i}" for i in range(12)])
    with pytest.raises(SettingsError, match=f"written with {settings.shards} shards"):
        async with open_backends(settings.replace(shards=settings.shards * 2)):
            pass
    async with open_backends(settings) as backends:
        for shard in range(settings.shards):
            while (batch := await backends.buffer.drain(shard, 100)) is not None:
                await backends.buffer.ack(batch)
    async with open_backends(settings.replace(shards=settings.shards * 2)) as backends:
        assert await backends.redis.get(SHARDS_KEY) == str(settings.shards * 2).encode()
