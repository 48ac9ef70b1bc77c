"""Exactly-once in effect under real faults."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import aiohttp
from redis.asyncio import Redis

from devstack.servers import PostgresServer, RedisServer, free_port
from tests.faults.harness import AUTH, Stack, compare, send, wait_idle, workload


async def test_a_worker_killed_between_commit_and_ack_never_counts_twice(stack: Stack) -> None:
    stack.start_serve()
    await stack.wait_http()
    events = workload(seed=1, n=300)
    report = await send(stack.url, events, seed=1)
    crashing = stack.start_worker(crash="after_commit")
    assert crashing.wait(30) == 137  # it committed a batch, then died before the ack
    stack.start_worker()  # takes the batch again after its lease: same id, applies nothing
    await wait_idle(stack.redis_url)
    result = await compare(stack.database_url, events, report.accepted_ids)
    assert (result.missing_s, result.double_counted_s, result.mismatched) == (0, 0, [])


async def test_workers_killed_at_random_moments_lose_nothing(stack: Stack) -> None:
    stack.start_serve()
    await stack.wait_http()
    events = workload(seed=2, n=600)
    sender = asyncio.create_task(send(stack.url, events, seed=2, batch=10, pace_s=0.02))
    for _ in range(4):
        victim = stack.start_worker()
        await asyncio.sleep(0.7)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    report = await sender
    stack.start_worker()
    await wait_idle(stack.redis_url)
    result = await compare(stack.database_url, events, report.accepted_ids)
    assert (result.missing_s, result.double_counted_s, result.mismatched) == (0, 0, [])


async def wait_metrics(port: int, proc: Any, timeout_s: float = 30) -> None:
    """Until the worker serves its metrics: it has started and handles SIGTERM."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the worker exited while starting"
            try:
                async with s.get(f"http://127.0.0.1:{port}/metrics") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the worker never served its metrics")


async def test_a_worker_stopped_mid_flow_exits_in_bounds_and_loses_nothing(stack: Stack) -> None:
    stack.start_serve()
    await stack.wait_http()
    events = workload(seed=3, n=400)
    port = free_port()
    first = stack.start_worker(WAYMARK_WORKER_METRICS_PORT=str(port))
    await wait_metrics(port, first)  # stopped mid-flow, not while still starting
    sender = asyncio.create_task(send(stack.url, events, seed=3, batch=10, pace_s=0.02))
    await asyncio.sleep(1.0)
    start = time.monotonic()
    first.send_signal(signal.SIGTERM)
    assert first.wait(20) == 0
    assert time.monotonic() - start < 10
    report = await sender
    stack.start_worker()
    await wait_idle(stack.redis_url)
    result = await compare(stack.database_url, events, report.accepted_ids)
    assert (result.missing_s, result.double_counted_s, result.mismatched) == (0, 0, [])


async def test_a_redis_crash_during_ingest_answers_503_and_keeps_what_was_taken(
    stack: Stack, redis_server: RedisServer
) -> None:
    """With ``appendfsync always`` (what ``WAYMARK_DURABILITY=strict`` runs): ``everysec``
    may lose the last second or two of acknowledged writes to a SIGKILL, as documented."""
    async with Redis.from_url(stack.redis_url) as r:
        await r.config_set("appendfsync", "always")
    stack.start_serve()
    stack.start_worker()
    await stack.wait_http()
    events = workload(seed=4, n=600)
    sender = asyncio.create_task(send(stack.url, events, seed=4, batch=10, pace_s=0.03))
    await asyncio.sleep(0.5)
    redis_server.kill()
    await asyncio.sleep(1.5)
    redis_server.start()  # AOF replay: every acknowledged write is back; restarted with its
    # own command line, it runs everysec again, as the other tests expect
    report = await sender
    assert 500 not in report.statuses and report.statuses.get(503, 0) > 0
    assert report.retry_after_missing == 0
    await wait_idle(stack.redis_url)
    result = await compare(stack.database_url, events, report.accepted_ids)
    assert (result.missing_s, result.double_counted_s, result.mismatched) == (0, 0, [])


async def test_a_paused_redis_makes_requests_fail_fast_with_503(
    stack: Stack, redis_server: RedisServer
) -> None:
    stack.start_serve()
    await stack.wait_http()
    redis_server.pause()
    try:
        async with aiohttp.ClientSession(headers=AUTH) as s:
            ev = workload(seed=5, n=1)
            start = time.monotonic()
            async with s.post(f"{stack.url}/v1/events", json={"events": ev}) as r:
                took = time.monotonic() - start
                assert r.status == 503 and r.headers["Retry-After"]
    finally:
        redis_server.resume()
    assert took < 2.5


async def test_postgres_down_for_a_while_loses_nothing_and_burns_no_tries(
    stack: Stack, postgres_server: PostgresServer
) -> None:
    stack.start_serve()
    stack.start_worker(WAYMARK_MAX_TRIES="2")
    await stack.wait_http()
    events = workload(seed=6, n=300)
    warm = await send(stack.url, events[:20], seed=6)  # the course rules get cached
    postgres_server.stop(mode="immediate")
    report = await send(stack.url, events[20:], seed=6)
    await asyncio.sleep(10)
    postgres_server.start()
    await wait_idle(stack.redis_url, timeout_s=90)
    accepted = warm.accepted_ids | report.accepted_ids
    result = await compare(stack.database_url, events, accepted)
    assert (result.missing_s, result.double_counted_s, result.mismatched) == (0, 0, [])
    async with Redis.from_url(stack.redis_url) as r:
        dead = [k async for k in r.scan_iter("wm:*:deadidx")]
    assert dead == []


async def test_a_poison_entry_is_dead_lettered_and_the_rest_applied(stack: Stack) -> None:
    stack.start_serve()
    await stack.wait_http()
    events = workload(seed=7, n=200)
    report = await send(stack.url, events, seed=7)
    async with Redis.from_url(stack.redis_url) as r:  # an entry no worker can decode
        await r.hset("wm:{wm.0}:buf", "poison|c-1|ch-0", b"\xc1 not msgpack")
        await r.zadd("wm:{wm.0}:due", {"poison|c-1|ch-0": 0})
    stack.start_worker(WAYMARK_MAX_TRIES="2")
    await wait_idle(stack.redis_url)
    result = await compare(stack.database_url, events, report.accepted_ids)
    assert (result.missing_s, result.double_counted_s, result.mismatched) == (0, 0, [])
    async with Redis.from_url(stack.redis_url) as r:
        assert await r.zcard("wm:{wm.0}:deadidx") == 1
        fields = [f.decode() for f in await r.hkeys("wm:{wm.0}:dead")]
    assert any(f.endswith("|poison|c-1|ch-0") for f in fields)


async def test_overload_answers_503_keeps_memory_bounded_and_drains_exactly(
    stack: Stack,
) -> None:
    stack.env["WAYMARK_HIGH_WATER_KEYS"] = "30"
    stack.start_serve()
    await stack.wait_http()
    events = workload(seed=8, n=400, users=60)
    sender = asyncio.create_task(send(stack.url, events, seed=8, batch=20, deadline_s=60))
    await asyncio.sleep(2.0)
    async with Redis.from_url(stack.redis_url) as r:
        pending = sum([await r.zcard(f"wm:{{wm.{s}}}:due") for s in range(16)])
    assert pending <= 30 + 2 * 20  # the mark, plus what was in flight when it was sampled
    stack.start_worker()
    report = await sender
    assert report.statuses.get(503, 0) > 0 and report.retry_after_missing == 0
    await wait_idle(stack.redis_url)
    result = await compare(stack.database_url, events, report.accepted_ids)
    assert len(report.accepted_ids) == len(events)
    assert (result.missing_s, result.double_counted_s, result.mismatched) == (0, 0, [])
