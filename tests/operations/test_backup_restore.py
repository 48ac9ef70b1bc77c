"""Backup and restore as docs/operations.md describes it: PostgreSQL restored from a
``pg_dump -Fc`` taken earlier, then ``waymark replay`` applies again what Redis retained.

Events flow, the dump is taken, more events flow and are applied and relayed, the workers stop,
the dump is restored over the live database (the HTTP server keeps taking events meanwhile),
``waymark replay`` runs, the workers start again. Every chapter row then equals the reference
over all accepted events, and each domain event is on the stream exactly once, by its id.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

from devstack.servers import find_postgres_bindir, free_port
from tests.faults.harness import compare, send, wait_http, wait_idle, workload
from tests.operations.domain_events import assert_each_domain_event_once, relayed
from tests.operations.release import process_env, run_module, spawn
from tests.operations.test_upgrade import scalar, stop


def pg_tool(name: str, *args: str) -> None:
    done = subprocess.run([str(find_postgres_bindir() / name), *args], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr


async def test_a_restore_to_an_earlier_point_then_replay_loses_and_repeats_nothing(
    fresh_database: str, redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = process_env(redis_url, fresh_database, port, WAYMARK_REPLAY_RETENTION_S="600")

    def workers() -> list[subprocess.Popen[bytes]]:
        # worker i serves its metrics on WAYMARK_WORKER_METRICS_PORT + i: the free port itself
        return [spawn(None, {**env, "WAYMARK_WORKER_METRICS_PORT": str(free_port() - i)},
                      tmp_path / f"worker-{i}.log", "waymark", "worker", "--index", str(i))
                for i in range(2)]

    await asyncio.to_thread(run_module, None, env, "waymark", "migrate")
    serve = spawn(None, env, tmp_path / "serve.log", "waymark", "serve")
    running = workers()
    dump = tmp_path / "waymark.dump"
    try:
        await wait_http(url, tries=200)
        events = workload(seed=4, n=900, users=8)
        before = await send(url, events[:300], seed=1)
        await wait_idle(redis_url)
        await relayed(fresh_database, redis_url)
        await asyncio.to_thread(pg_tool, "pg_dump", "-Fc", "-f", str(dump), fresh_database)
        dumped = await scalar(fresh_database, "SELECT count(*) FROM applied_batches")

        after = await send(url, events[300:600], seed=2)  # applied, relayed, then lost
        await wait_idle(redis_url)
        stream_before_restore, _ = await relayed(fresh_database, redis_url)
        assert await scalar(fresh_database, "SELECT count(*) FROM applied_batches") > dumped

        assert stop(running) == [0, 0]
        during = asyncio.create_task(send(url, events[600:750], seed=3, pace_s=0.01))
        await asyncio.to_thread(pg_tool, "pg_restore", "--clean", "--if-exists",
                                "--single-transaction", "-d", fresh_database, str(dump))
        assert await scalar(fresh_database, "SELECT count(*) FROM applied_batches") == dumped
        lost = await compare(fresh_database, events, before.accepted_ids | after.accepted_ids)
        assert lost.missing_s > 0  # the restore really took the later batches away

        out = await asyncio.to_thread(run_module, None, env, "waymark", "replay")
        counts = {k: int(n) for k, n in re.findall(r"([a-z][a-z ]*[a-z]): (\d+)", out)}
        # batches the restore took away are applied again; their domain events, relayed before
        # the restore, are recognised on the stream by their ids instead of being sent twice
        assert counts["applied again"] > 0, out
        assert counts["domain events already in the stream"] > 0, out
        running = workers()
        accepted = before.accepted_ids | after.accepted_ids | (await during).accepted_ids
        last = await send(url, events[750:] + events[300:400], seed=5)  # and some again
        accepted |= last.accepted_ids
        await wait_idle(redis_url)
        assert accepted == {e["id"] for e in events}
        result = await compare(fresh_database, events, accepted)
        assert (result.missing_s, result.double_counted_s, result.mismatched) == (0, 0, [])
        await assert_each_domain_event_once(fresh_database, redis_url)
        stream_after, _ = await relayed(fresh_database, redis_url)
        assert set(stream_before_restore) <= set(stream_after)
    finally:
        for p in [serve, *running]:
            if p.poll() is None:
                p.kill()
                p.wait()
