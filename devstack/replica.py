"""A PostgreSQL streaming replica of a local ``PostgresServer``, for the read-replica tests.

``pg_basebackup -R`` copies the primary's data directory and writes the standby settings
(``standby.signal`` and ``primary_conninfo``), so the copy started on its own port follows the
primary's WAL and answers read-only queries (``DATABASE_READ_URL``).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from devstack.pgaccount import server_account
from devstack.processes import DevstackError, spawn
from devstack.servers import PostgresServer, _client_env, find_postgres_bindir


def streaming_replica(primary: PostgresServer, dir: Path) -> PostgresServer:
    """Copy ``primary`` into ``dir`` as a streaming standby; return it, not yet started."""
    replica = PostgresServer(dir, fast=primary.fast, user=primary.user, database=primary.database)
    version = (primary.data_dir / "PG_VERSION").read_text().strip()
    bindir = find_postgres_bindir(version)
    account = server_account()
    replica.dir.mkdir(parents=True, exist_ok=True)
    replica.dir.chmod(0o755)
    if account is not None:
        os.chown(replica.dir, account.pw_uid, account.pw_gid)
    argv: list[str | Path] = [bindir / "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port)]
    argv += ["-U", primary.user, "-D", replica.data_dir, "-R", "-X", "stream", "-c", "fast"]
    proc = spawn(argv, stdout=subprocess.PIPE, env=_client_env(), user=account, cwd=replica.dir)
    output, _ = proc.communicate(timeout=120)
    if proc.returncode != 0:
        raise DevstackError(f"pg_basebackup failed:\n{output.decode(errors='replace')}")
    return replica
