"""The fresh Redis and PostgreSQL every benchmark run starts for itself."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from aggregator.db import migrate
from devstack.servers import PostgresServer, RedisServer, free_port


@contextlib.asynccontextmanager
async def fresh_servers(prefix: str) -> AsyncIterator[tuple[RedisServer, PostgresServer]]:
    """Redis (AOF everysec) and a migrated PostgreSQL in a temporary directory, removed after."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    redis, pg = RedisServer(root / "redis", free_port()), PostgresServer(root / "pg", free_port())
    redis.start()
    pg.start()
    try:
        await migrate(pg.url)
        yield redis, pg
    finally:
        pg.stop()
        redis.stop()
        shutil.rmtree(root, ignore_errors=True)
