"""The one-command stack keeps its own Redis and PostgreSQL alive, or stops.

``waymark up`` runs as a process here, as a developer runs it. The servers it started are
SIGKILLed under load; the stack must bring each back on its data and port, log it, and the
stored state must equal the reference over every event answered 202. A server that cannot come
back must end the stack with a non-zero exit, not leave it answering 503.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis

from devstack.pgaccount import ROOT_CLUSTERS
from devstack.servers import PostgresServer, free_port, port_is_free
from tests.conftest import API_KEYS
from tests.faults.harness import compare, send, wait_idle, workload
from tests.stack_process import answers, logged, stack_env, wait_logged, waymark_running


def _up_env(data_dir: Path, http_port: int) -> dict[str, str]:
    return stack_env(
        WAYMARK_DATA_DIR=str(data_dir),
        WAYMARK_HTTP_PORT=str(http_port),
        WAYMARK_WORKERS="1",
        WAYMARK_WORKER_METRICS_PORT=str(free_port()),
        WAYMARK_API_KEYS=API_KEYS,
        WAYMARK_MERGE_WINDOW_MS="200",
        WAYMARK_LEASE_S="3",
        WAYMARK_SHUTDOWN_S="5",
    )


def _urls(data_dir: Path) -> tuple[str, str]:
    ports = json.loads((data_dir / "stack.json").read_text())
    return (
        f"redis://127.0.0.1:{ports['redis']}/0",
        f"postgresql://waymark@127.0.0.1:{ports['postgres']}/waymark",
    )


@pytest.mark.slow
async def test_up_brings_back_a_killed_redis_and_postgres_and_loses_no_accepted_event(
    server_root: Path, tmp_path: Path
) -> None:
    data_dir, http_port = server_root / "up-recovery", free_port()
    # appendfsync always: Redis has fsynced every write it acknowledged, so a SIGKILL at any
    # moment of the flow loses nothing and the comparison can be exact. (With everysec a
    # process crash loses nothing either, except writes Redis postponed while a slow fsync ran.)
    env = _up_env(data_dir, http_port) | {"WAYMARK_DURABILITY": "strict"}
    log = tmp_path / "up.log"
    with waymark_running("up", env=env, log=log) as proc:
        url = f"http://127.0.0.1:{http_port}"
        assert answers(f"{url}/health", proc, within_s=60), log.read_text()
        redis_pid = (await wait_logged(log, "redis_started", 1))["pid"]
        postgres_pid = (await wait_logged(log, "postgres_started", 1))["pid"]
        events = workload(seed=12, n=1500)
        sender = asyncio.create_task(send(url, events, seed=12, batch=10, pace_s=0.02))

        await asyncio.sleep(1.0)
        # The stack is held (SIGSTOP) for a second so that Redis stays down long enough for the
        # ingest to be seen answering 503 meanwhile; its children run on.
        os.kill(proc.pid, signal.SIGSTOP)
        os.kill(redis_pid, signal.SIGKILL)
        await asyncio.sleep(1.0)
        os.kill(proc.pid, signal.SIGCONT)
        await wait_logged(log, "server_restarted", 30, name="redis", attempt=1)
        await asyncio.sleep(1.0)
        os.kill(postgres_pid, signal.SIGKILL)
        await wait_logged(log, "server_restarted", 30, name="postgres", attempt=1)
        assert not sender.done(), "the kills must happen while events flow"

        report = await sender
        assert report.accepted_ids == {e["id"] for e in events}
        assert 500 not in report.statuses and report.retry_after_missing == 0
        assert report.statuses.get(503, 0) > 0, report.statuses
        redis_url, database_url = _urls(data_dir)
        await wait_idle(redis_url)
        result = await compare(database_url, events, report.accepted_ids)
        assert (result.missing_s, result.double_counted_s, result.mismatched) == (0, 0, [])
        # The HTTP server's own pools found both servers again.
        assert answers(f"{url}/ready", proc, within_s=10), log.read_text()

        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, log.read_text()
    exited = {e["name"]: e for e in logged(log, "server_exited")}
    assert exited["redis"]["returncode"] == exited["postgres"]["returncode"] == -signal.SIGKILL


async def test_a_server_that_cannot_be_restarted_stops_the_stack_with_an_error(
    server_root: Path, tmp_path: Path
) -> None:
    data_dir, http_port = server_root / "up-gives-up", free_port()
    log = tmp_path / "up.log"
    with waymark_running("up", env=_up_env(data_dir, http_port), log=log) as proc:
        assert answers(f"http://127.0.0.1:{http_port}/health", proc, within_s=60), log.read_text()
        redis_pid = (await wait_logged(log, "redis_started", 1))["pid"]
        # A damaged append-only file: Redis refuses to start on it, as after a disk fault.
        manifest = data_dir / "redis" / "appendonlydir" / "appendonly.aof.manifest"
        manifest.write_text("this is not a manifest\n")
        os.kill(redis_pid, signal.SIGKILL)
        code = await asyncio.to_thread(proc.wait, 60)
    assert code == 1, log.read_text()
    failures = logged(log, "server_restart_failed", name="redis")
    assert [f["attempt"] for f in failures] == [1, 2, 3, 4, 5]
    assert logged(log, "server_gave_up", name="redis")
    # Everything it started is stopped: the HTTP port and both server ports are free again.
    _, database_url = _urls(data_dir)
    postgres_port = int(database_url.rsplit(":", 1)[1].split("/")[0])
    assert port_is_free(http_port) and port_is_free(postgres_port)


@pytest.fixture
def private_clone() -> Iterator[Path]:
    """A directory to run from inside a mode-700 one, like a clone under ``/root``."""
    home = Path(tempfile.mkdtemp(prefix="waymark-home-"))
    home.chmod(0o700)
    (home / "waymark").mkdir()
    yield home / "waymark"
    shutil.rmtree(home)


@pytest.mark.skipif(os.geteuid() != 0, reason="this is what running as root looks like")
async def test_the_stack_runs_as_root_from_a_private_home_directory(
    private_clone: Path, tmp_path: Path
) -> None:
    clone = private_clone
    cluster: Path | None = None
    try:
        with waymark_running(
            "stack", env=stack_env(), log=tmp_path / "stack.log", cwd=clone
        ) as proc:
            assert proc.stdout is not None
            exports = dict(
                proc.stdout.readline().removeprefix("export ").strip().split("=", 1)
                for _ in range(2)
            )
            recorded = json.loads((clone / ".waymark" / "stack.json").read_text())
            cluster = Path(recorded["postgres_dir"])
            assert cluster.parent.parent == ROOT_CLUSTERS
            assert (clone / ".waymark" / "pg").resolve() == cluster
            owner = cluster.parent.stat()
            assert owner.st_uid == pwd.getpwnam("postgres").pw_uid
            assert owner.st_mode & 0o777 == 0o700
            with redis.Redis.from_url(exports["REDIS_URL"]) as client:
                assert client.ping()
            conn = await asyncpg.connect(exports["DATABASE_URL"])
            assert await conn.fetchval("SELECT 1") == 1
            await conn.close()
            proc.send_signal(signal.SIGINT)
            assert proc.wait(60) == 0
    finally:
        if cluster is not None:
            shutil.rmtree(cluster.parent)


async def test_postgres_starts_again_on_the_data_its_killed_postmaster_left(
    server_root: Path,
) -> None:
    server = PostgresServer(server_root / "pg-sigkill")  # fsync on, as in the embedded stack
    server.start()
    try:
        conn = await asyncpg.connect(server.url)
        await conn.execute("CREATE TABLE chapters (id text PRIMARY KEY)")
        await conn.execute("INSERT INTO chapters VALUES ('intro')")
        assert server.pid is not None
        os.kill(server.pid, signal.SIGKILL)
        await asyncio.to_thread(_until_exited, server)
        assert (server.data_dir / "postmaster.pid").exists(), "a SIGKILL leaves the pid file"
        server.start()
        await conn.close()
        conn = await asyncpg.connect(server.url)
        assert await conn.fetchval("SELECT id FROM chapters") == "intro"
        await conn.close()
    finally:
        server.stop()


def _until_exited(server: PostgresServer) -> None:
    while server.running:
        time.sleep(0.01)
