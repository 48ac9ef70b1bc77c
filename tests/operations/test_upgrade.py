"""An upgrade as an operator runs it: the newest migrations land while the previous release's
HTTP server and workers keep taking and applying batches; then the new code takes over.

The previous release is the newest ``v*`` tag, checked out with ``git archive``; the migrations
under test are those of this checkout that the release lacks, whatever they are on the day.
Nothing may be lost or counted twice: every chapter row equals ``tests/reference.py`` over the
accepted events, after the old workers applied on the new schema and again after the new code
finished.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg

from devstack.servers import free_port
from tests.faults.harness import compare, send, wait_http, wait_idle, workload
from tests.operations.domain_events import assert_each_domain_event_once
from tests.operations.release import (
    ROOT,
    checkout,
    migration_names,
    previous_release,
    process_env,
    release_env,
    run_module,
    spawn,
)


def stop(procs: list[subprocess.Popen[bytes]]) -> list[int]:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    return [p.wait(30) for p in procs]


async def scalar(dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def test_the_previous_release_keeps_applying_while_the_new_migrations_land(
    fresh_database: str, redis_url: str, tmp_path: Path
) -> None:
    tag = previous_release()
    old = checkout(tag, tmp_path / "release")
    newer = sorted(migration_names(ROOT) - migration_names(old))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = process_env(redis_url, fresh_database, port)
    where = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", "import buffer; print(buffer.__file__)"],
        cwd=old, env=release_env(old, env), capture_output=True, text=True)
    assert where.stdout.startswith(str(old)), where  # the release's code runs, not this one's

    await asyncio.to_thread(run_module, old, env, "waymark", "migrate")  # as the release left it
    old_serve = spawn(old, env, tmp_path / "old-serve.log", "waymark", "serve")
    # worker i serves its metrics on WAYMARK_WORKER_METRICS_PORT + i: the free port itself
    old_workers = [spawn(old, {**env, "WAYMARK_WORKER_METRICS_PORT": str(free_port() - i)},
                         tmp_path / f"old-worker-{i}.log", "waymark", "worker", "--index", str(i))
                   for i in range(2)]
    new: list[subprocess.Popen[bytes]] = []
    try:
        await wait_http(url, tries=200)
        events = workload(seed=21, n=900, users=8)
        first = await send(url, events[:300], seed=1)
        # the new migrations land while the release takes and applies batches
        during = asyncio.create_task(send(url, events[300:450], seed=2, pace_s=0.02))
        applied = await asyncio.to_thread(run_module, None, env, "waymark", "migrate")
        second = await during
        assert sorted(applied.split()) == newer  # what this checkout adds to the release
        batches = await scalar(fresh_database, "SELECT count(*) FROM applied_batches")
        third = await send(url, events[450:600], seed=3)  # only old workers, on the new schema
        await wait_idle(redis_url)
        assert await scalar(fresh_database, "SELECT count(*) FROM applied_batches") > batches
        accepted = first.accepted_ids | second.accepted_ids | third.accepted_ids
        on_new_schema = await compare(fresh_database, events, accepted)
        assert (on_new_schema.missing_s, on_new_schema.double_counted_s,
                on_new_schema.mismatched) == (0, 0, [])

        # the rolling restart: new workers first, then the old ones stop, then the server
        new += [spawn(None, {**env, "WAYMARK_WORKER_METRICS_PORT": str(free_port() - i)},
                      tmp_path / f"new-worker-{i}.log", "waymark", "worker", "--index", str(i))
                for i in range(2)]
        sending = asyncio.create_task(send(url, events[600:750], seed=4, pace_s=0.01))
        codes = stop(old_workers)
        assert codes == [0, 0], [(tmp_path / f"old-worker-{i}.log").read_text()[-3000:]
                                 for i, c in enumerate(codes) if c != 0]
        await sending
        assert stop([old_serve]) == [0], (tmp_path / "old-serve.log").read_text()[-3000:]
        new.append(spawn(None, env, tmp_path / "new-serve.log", "waymark", "serve"))
        await wait_http(url, tries=200)
        # the rest, and the first third again: duplicates across the upgrade change nothing
        last = await send(url, events[750:] + events[:300], seed=5)
        await wait_idle(redis_url)
        accepted |= sending.result().accepted_ids | last.accepted_ids
        assert accepted == {e["id"] for e in events}
        result = await compare(fresh_database, events, accepted)
        assert (result.missing_s, result.double_counted_s, result.mismatched) == (0, 0, [])
        versions = await scalar(fresh_database, "SELECT count(*) FROM schema_migrations")
        assert versions == len(migration_names(ROOT))
        await assert_each_domain_event_once(fresh_database, redis_url)
    finally:
        for p in [old_serve, *old_workers, *new]:
            if p.poll() is None:
                p.kill()
                p.wait()
