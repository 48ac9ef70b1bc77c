"""What replica acknowledgement costs, and what a failover loses without it, on a real cluster.

    .venv/bin/python -m benchmarks.replica_acks --writes 2000 --trials 10

Starts a local Redis Cluster (3 masters, 1 replica each, ``devstack.cluster``) and a single
Redis beside it, then:

- latency: one request of 20 events for 20 learners (so several shards) written through
  ``MergeBuffer.write`` ``--writes`` times, one after the other: single Redis (one script call),
  cluster, cluster with ``WAIT 1``. Microseconds per request, p50 and p99.
- failover: ``--concurrency`` writers send 5-event requests to one shard as fast as they can;
  the shard's master is SIGKILLed after a random 0.5-1.5 s; writers keep going until the
  replica has taken over. Every event answered "accepted" is then looked up in the new master's
  dedup sets: an accepted event that is not there was lost. With and without ``WAIT 1``, and
  again with the replica paused for ``--lag-ms`` just before the kill (a replica behind its
  master, as over a slow or congested link).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import RedisError

from buffer.cluster import ReplicaWait
from buffer.entries import CourseChange
from buffer.keys import shard_key
from buffer.merge_buffer import MergeBuffer, ShardWrite
from devstack.cluster import LocalCluster
from devstack.servers import RedisServer

SHARDS = 16


def request(buffer: MergeBuffer, users: list[str], tag: str) -> dict[int, ShardWrite]:
    writes: dict[int, ShardWrite] = {}
    for i, user in enumerate(users):
        w = writes.setdefault(buffer.shard_of(user), ShardWrite())
        eid = f"{tag}-{i}"
        n = w.add_event(i, eid, None, None)
        w.course_op(n, f"{user}|c-1|", False, CourseChange("V", int(time.time() * 1000), eid, ""))
    return writes


def buffer_on(redis: Redis | RedisCluster, wait: int) -> MergeBuffer:
    return MergeBuffer(redis, shards=SHARDS, merge_window_ms=2000, dedup_window_s=3600,
                       lease_s=30, wait=ReplicaWait(wait, 2000))


async def latency(redis: Redis | RedisCluster, wait: int, writes: int) -> dict[str, float]:
    buffer = buffer_on(redis, wait)
    users = [f"u-{i}" for i in range(20)]
    times = []
    for n in range(writes):
        t = time.perf_counter()
        await buffer.write(request(buffer, users, f"lat-{wait}-{n}"))
        times.append((time.perf_counter() - t) * 1e6)
    await buffer.aclose()
    q = statistics.quantiles(times, n=100)
    return {"p50_us": round(q[49]), "p99_us": round(q[98])}


async def failover_trial(
    cluster: LocalCluster, wait: int, concurrency: int, lag_s: float
) -> dict[str, int]:
    cluster.heal()
    cluster.flush()
    redis = RedisCluster.from_url(cluster.url, socket_timeout=1, socket_connect_timeout=1)
    buffer = buffer_on(redis, wait)
    user = "u-0"
    shard = buffer.shard_of(user)
    master = cluster.master_of_slot(key_slot(shard_key(shard, "buf").encode()))
    accepted: list[str] = []
    refused = 0
    killed_at = time.monotonic() + random.uniform(0.5, 1.5)
    recovered = asyncio.Event()

    async def writer(k: int) -> None:
        nonlocal refused
        n = 0
        while not recovered.is_set():
            n += 1
            tag = f"w{k}-{n}"
            try:
                got = await buffer.write(request(buffer, [user] * 5, tag))
            except RedisError:
                refused += 1
                await asyncio.sleep(0.05)
                continue
            flags = got[shard][0]
            accepted.extend(f"{tag}-{i}" for i, f in enumerate(flags) if f == "1")
            if time.monotonic() > killed_at + 0.5 and cluster.master_of_slot(
                    key_slot(shard_key(shard, "buf").encode())) != master:
                recovered.set()

    async def killer() -> None:
        await asyncio.sleep(killed_at - time.monotonic() - lag_s)
        replica = cluster.node(cluster.replicas_of(master)[0])
        if lag_s:  # the replica falls behind (a slow link, a pause) just before the crash
            replica.pause()
            await asyncio.sleep(lag_s)
        cluster.node(master).kill()
        replica.resume()
        if wait:  # the new master needs a replica to confirm anything: bring the old one back
            await asyncio.sleep(2)
            cluster.node(master).start()

    await asyncio.wait_for(asyncio.gather(killer(), *(writer(k) for k in range(concurrency))), 60)
    now = cluster.master_of_slot(key_slot(shard_key(shard, "buf").encode()))
    async with Redis(port=now) as r:
        keys = [k async for k in r.scan_iter(match=shard_key(shard, "ids:*"))]
        seen: set[bytes] = set()
        for key in keys:
            seen |= await r.smembers(key)
    await buffer.aclose()
    await redis.aclose()
    lost = sum(1 for eid in accepted if eid.encode() not in seen)
    return {"accepted": len(accepted), "lost": lost, "refused_requests": refused}


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="waymark-cluster-bench-"))
    cluster = LocalCluster(root / "cluster")
    single = RedisServer(root / "single")
    cluster.start()
    single.start()
    out: dict[str, object] = {}
    try:
        async with Redis.from_url(single.url) as r:
            out["single_redis"] = await latency(r, 0, args.writes)
        for wait in (0, 1):
            cluster.flush()
            async with RedisCluster.from_url(cluster.url) as rc:
                out[f"cluster_wait_{wait}"] = await latency(rc, wait, args.writes)
        for wait, lag_ms in ((0, 0), (1, 0), (0, args.lag_ms), (1, args.lag_ms)):
            trials = [await failover_trial(cluster, wait, args.concurrency, lag_ms / 1000)
                      for _ in range(args.trials)]
            name = f"failover_wait_{wait}_replica_behind_{lag_ms}ms"
            out[name] = {
                "trials": len(trials),
                "accepted": sum(t["accepted"] for t in trials),
                "lost": sum(t["lost"] for t in trials),
                "trials_with_loss": sum(1 for t in trials if t["lost"]),
                "max_lost_in_a_trial": max(t["lost"] for t in trials),
                "refused_requests": sum(t["refused_requests"] for t in trials),
            }
            print(json.dumps({name: out[name]}), flush=True)
    finally:
        cluster.stop()
        single.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--lag-ms", type=int, default=300,
                        help="how long the replica is paused just before its master is killed")
    asyncio.run(main(parser.parse_args()))
