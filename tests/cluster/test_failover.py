"""A master SIGKILLed while events flow: its replica takes over and nothing acknowledged is lost.

With ``WAYMARK_REDIS_WAIT_REPLICAS=1`` a 202 means the replica has the batch, and a drained
batch's lease is on the replica before it is applied, so after the failover the stored state
equals the reference model's for every event the clients sent (each batch is retried until it
is answered 202, as the SDKs do).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from redis.crc import key_slot
from redis.exceptions import RedisError

from buffer.keys import shard_key
from devstack.cluster import LocalCluster
from ingest.app import SERVER_OPTIONS, create_app
from tests.helpers import CATALOG, auth
from tests.integration.test_merge_property import a_long_history, assert_reference_state
from tests.pipeline import Pipeline
from waymark.settings import Settings

RETRY_FOR_S = 60.0
RESTART_AFTER_S = 3.0
"""With WAIT a master without a live replica refuses writes: its old master must come back."""


def two_learners(seed: int) -> list[dict[str, Any]]:
    """u-1's long history and u-2's (another seed), interleaved."""
    mine = a_long_history(seed, controls=True)
    theirs = [dict(ev, id=f"v{ev['id']}", user_id="u-2")
              for ev in a_long_history(seed + 100, controls=True)]
    out = mine + theirs
    random.Random(seed).shuffle(out)
    return out


async def post_until_accepted(client: TestClient, batch: list[dict[str, Any]]) -> int:
    """Send ``batch`` until it is answered 202; return how many 503s it took."""
    refused = 0
    deadline = asyncio.get_running_loop().time() + RETRY_FOR_S
    while True:
        resp = await client.post("/v1/events", json={"events": batch}, headers=auth())
        if resp.status == 202:
            assert (await resp.json())["rejected"] == []
            return refused
        assert resp.status == 503, await resp.text()
        refused += 1
        assert asyncio.get_running_loop().time() < deadline, "no failover"
        await asyncio.sleep(0.2)


async def flush_until_done(pipeline: Pipeline) -> None:
    """Flush through the failover: the worker's calls fail until the replica has taken over."""
    deadline = asyncio.get_running_loop().time() + RETRY_FOR_S
    while True:
        try:
            await pipeline.flush()
            return
        except RedisError:
            assert asyncio.get_running_loop().time() < deadline, "no failover"
            await asyncio.sleep(0.2)


async def test_a_master_killed_mid_flow_loses_no_acknowledged_event_with_replica_acks(
    settings: Settings, redis_cluster: LocalCluster, database_url: str,
) -> None:
    waiting = settings.replace(redis_wait_replicas=1, redis_wait_timeout_ms=2000)
    events = two_learners(seed=3)
    server = TestServer(create_app(waiting))
    await server.start_server(**SERVER_OPTIONS)
    async with TestClient(server) as client, Pipeline.open(waiting) as pipeline:
        assert (await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())).status == 200
        slot = key_slot(shard_key(pipeline.buffer.shard_of("u-1"), "buf").encode())
        master = redis_cluster.master_of_slot(slot)
        batches = [events[i:i + 7] for i in range(0, len(events), 7)]
        refused = 0
        for n, batch in enumerate(batches):
            if n == len(batches) // 3:
                await flush_until_done(pipeline)  # some state in PostgreSQL before the kill
            if n == len(batches) // 2:
                redis_cluster.node(master).kill()
                # as a supervisor would: the dead node comes back (as a replica) a little later
                restart = asyncio.get_running_loop().call_later(
                    RESTART_AFTER_S, redis_cluster.node(master).start)
            refused += await post_until_accepted(client, batch)
        await flush_until_done(pipeline)
    restart.cancel()
    assert redis_cluster.master_of_slot(slot) != master  # the replica took over
    assert refused > 0  # the failover was seen by the clients
    await assert_reference_state(events, database_url)
