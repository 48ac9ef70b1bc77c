"""The local servers, the embedded stack and the ``waymark`` command's process handling."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import asyncpg
import pytest
import redis

from aggregator.signing import load_signer
from devstack.embedded import (
    StackPorts,
    choose_ports,
    load_or_create_cert_key,
    load_or_create_dev_key,
)
from devstack.servers import PostgresServer, RedisServer, free_port, port_is_free
from devstack.supervisor import Supervisor
from tests.servers import truncate_tables
from tests.stack_process import REPO, answers, stack_env, waymark_running


def test_redis_keeps_acknowledged_writes_after_being_killed(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", appendfsync="always")
    server.start()
    try:
        with redis.Redis.from_url(server.url) as client:
            client.set("progress", "42")
        server.kill()
        server.start()
        with redis.Redis.from_url(server.url) as client:
            assert client.get("progress") == b"42"
    finally:
        server.stop()


def test_a_paused_redis_stops_answering_until_resumed(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        server.pause()
        with (
            redis.Redis.from_url(server.url, socket_timeout=0.3) as client,
            pytest.raises(redis.TimeoutError),
        ):
            client.ping()
        server.resume()
        with redis.Redis.from_url(server.url, socket_timeout=5) as client:
            assert client.ping()
    finally:
        server.stop()


async def test_postgres_keeps_committed_rows_after_a_crash(server_root: Path) -> None:
    server = PostgresServer(server_root / "pg-crash")
    server.start()
    try:
        conn = await asyncpg.connect(server.url)
        await conn.execute("CREATE TABLE chapters (id text PRIMARY KEY)")
        await conn.execute("INSERT INTO chapters VALUES ('intro')")
        await conn.close()
        server.stop(mode="immediate")
        server.start()
        conn = await asyncpg.connect(server.url)
        assert await conn.fetchval("SELECT id FROM chapters") == "intro"
        await conn.close()
    finally:
        server.stop()


async def test_truncation_empties_every_table_but_the_migration_log(
    postgres_server: PostgresServer,
) -> None:
    admin = await asyncpg.connect(postgres_server.url)
    await admin.execute("DROP DATABASE IF EXISTS truncation_check")
    await admin.execute("CREATE DATABASE truncation_check")
    dsn = postgres_server.url.rsplit("/", 1)[0] + "/truncation_check"
    try:
        conn = await asyncpg.connect(dsn)
        await conn.execute("CREATE TABLE schema_migrations (version int)")
        await conn.execute('CREATE TABLE "Odd name" (id serial)')
        await conn.execute("INSERT INTO schema_migrations VALUES (1)")
        await conn.execute('INSERT INTO "Odd name" DEFAULT VALUES')
        assert await truncate_tables(dsn) == ["Odd name"]
        assert await conn.fetchval('SELECT count(*) FROM "Odd name"') == 0
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 1
        await conn.close()
    finally:
        await admin.execute("DROP DATABASE truncation_check")
        await admin.close()


def test_each_test_gets_an_empty_redis(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0
        client.set("left-behind", "1")


async def test_each_test_gets_empty_tables(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'schema_migrations'"
        )
        for row in rows:
            assert await conn.fetchval(f'SELECT count(*) FROM "{row["tablename"]}"') == 0
    finally:
        await conn.close()


def test_stack_ports_are_remembered_and_a_busy_one_is_replaced(tmp_path: Path) -> None:
    first = choose_ports(tmp_path)
    assert choose_ports(tmp_path) == first
    with socket.socket() as taken:
        # A connection an earlier test closed may leave the port in TIME_WAIT; servers bind anyway.
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", first.redis))
        taken.listen()
        moved = choose_ports(tmp_path)
    assert moved.redis != first.redis and moved.postgres == first.postgres
    assert choose_ports(tmp_path) == moved


def test_a_corrupt_stack_file_falls_back_to_fresh_ports(tmp_path: Path) -> None:
    (tmp_path / "stack.json").write_text("{not json")
    ports = choose_ports(tmp_path)
    assert isinstance(ports, StackPorts)
    assert choose_ports(tmp_path) == ports


def test_the_dev_key_is_private_has_every_scope_and_is_reused(tmp_path: Path) -> None:
    key = load_or_create_dev_key(tmp_path)
    assert (tmp_path / "dev-api-key").stat().st_mode & 0o777 == 0o600
    assert key.scopes == {"ingest", "read", "admin"}
    assert load_or_create_dev_key(tmp_path) == key


def test_a_child_that_exits_is_started_again(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    child = f"open({str(starts)!r}, 'a').write('x')"
    supervisor = Supervisor(os.environ, backoff_initial_s=0.01, backoff_max_s=0.05)
    supervisor.start("flaky", [sys.executable, "-c", child])
    deadline = time.monotonic() + 20
    while (not starts.exists() or len(starts.read_text()) < 3) and time.monotonic() < deadline:
        supervisor.tick()
        time.sleep(0.02)
    supervisor.stop_all()
    assert len(starts.read_text()) >= 3


def test_stopping_children_sends_sigterm_first() -> None:
    supervisor = Supervisor(os.environ)
    supervisor.start("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    started = time.monotonic()
    supervisor.stop_all(timeout_s=10)
    assert time.monotonic() - started < 10


def _waymark(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "waymark", *args]
    return subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=60)


def test_config_prints_settings_without_secrets() -> None:
    env = stack_env(
        WAYMARK_API_KEYS="ops:s3cr3t-key:read+admin",
        DATABASE_URL="postgresql://app:pa55word@db.internal:5432/waymark",
    )
    out = _waymark("config", env=env)
    assert out.returncode == 0, out.stderr
    assert "s3cr3t-key" not in out.stdout and "pa55word" not in out.stdout
    assert "api_keys = ops:***:admin+read" in out.stdout
    assert "database_url = postgresql://app:***@db.internal:5432/waymark" in out.stdout


def test_serve_refuses_to_start_without_api_keys() -> None:
    out = _waymark("serve", env=stack_env())
    assert out.returncode == 2
    assert "WAYMARK_API_KEYS" in out.stderr


async def test_stack_serves_redis_and_postgres_until_ctrl_c(
    server_root: Path, tmp_path: Path
) -> None:
    env = stack_env(WAYMARK_DATA_DIR=str(server_root / "stack"))
    with waymark_running("stack", env=env, log=tmp_path / "stack.log") as proc:
        assert proc.stdout is not None
        exports = dict(
            proc.stdout.readline().removeprefix("export ").strip().split("=", 1) for _ in range(2)
        )
        with redis.Redis.from_url(exports["REDIS_URL"]) as client:
            assert client.ping()
        conn = await asyncpg.connect(exports["DATABASE_URL"])
        assert await conn.fetchval("SELECT current_database()") == "waymark"
        await conn.close()

        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
    redis_port = int(exports["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
    assert port_is_free(redis_port)


def test_up_runs_the_stack_and_stops_cleanly_on_ctrl_c(server_root: Path, tmp_path: Path) -> None:
    port = free_port()
    env = stack_env(
        WAYMARK_DATA_DIR=str(server_root / "up"),
        WAYMARK_HTTP_PORT=str(port),
        WAYMARK_WORKERS="1",
        WAYMARK_WORKER_METRICS_PORT=str(free_port()),
    )
    log = tmp_path / "up.log"
    with waymark_running("up", env=env, log=log) as proc:
        assert answers(f"http://127.0.0.1:{port}/health", proc, within_s=60), log.read_text()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/certificates/keys") as resp:
            served = json.load(resp)["keys"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, log.read_text()
        assert proc.stdout is not None
        printed = proc.stdout.read()
    secret = load_or_create_dev_key(server_root / "up").secret
    assert f"dev key: {secret}" in printed
    assert secret not in log.read_text(), "secrets never appear in logs"
    cert_key = load_or_create_cert_key(server_root / "up")  # generated on first run, kept 0600
    assert [k["kid"] for k in served] == [load_signer(cert_key).kid]
    assert cert_key not in log.read_text() and cert_key not in printed
