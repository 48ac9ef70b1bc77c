"""The embedded stack: Redis and PostgreSQL under ``settings.data_dir`` (``./.waymark/``).

Used by ``waymark up`` and ``waymark stack`` when ``REDIS_URL`` / ``DATABASE_URL`` are unset.
Invariants:

- One process at a time owns a data directory: it holds an exclusive lock on ``stack.lock``
  while it runs, because two Redis servers appending to one AOF would corrupt it.
- The ports of the first run are kept in ``stack.json``, so the URLs stay the same from run to
  run; a port that another program has taken since is replaced by a free one. ``stack.json``
  also names the directory of the PostgreSQL cluster (``<data dir>/pg``, or for a root-run stack
  in a private home the directory under ``/var/lib/waymark`` that ``<data dir>/pg`` links to).
- The development API key lives in ``dev-api-key`` (mode 0600) and is reused on later runs;
  the certificate signing key likewise in ``cert-signing-key``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from aggregator.signing import b64url
from devstack.pgaccount import cluster_dir
from devstack.servers import DevstackError, PostgresServer, RedisServer, free_port, port_is_free
from waymark.settings import SCOPES, ApiKey, Settings

log = structlog.get_logger()

DEFAULT_REDIS_PORT = 16379
DEFAULT_POSTGRES_PORT = 15432
"""Away from 6379/5432, so the embedded servers sit beside system ones."""

DEV_KEY_FILE = "dev-api-key"
CERT_KEY_FILE = "cert-signing-key"
STACK_FILE = "stack.json"
LOCK_FILE = "stack.lock"


@dataclass(frozen=True, slots=True)
class StackPorts:
    redis: int
    postgres: int


def _recorded(data_dir: Path) -> dict[str, Any]:
    try:
        saved = json.loads((data_dir / STACK_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def record(data_dir: Path, **values: object) -> None:
    """Add ``values`` to ``stack.json``, keeping what else it holds."""
    saved = _recorded(data_dir)
    if saved.items() >= values.items() and (data_dir / STACK_FILE).exists():
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / STACK_FILE).write_text(json.dumps(saved | values, indent=1) + "\n")


def choose_ports(data_dir: Path) -> StackPorts:
    """The ports remembered in ``stack.json``, replacing any that is busy now."""
    saved = _recorded(data_dir)
    try:
        remembered = StackPorts(redis=int(saved["redis"]), postgres=int(saved["postgres"]))
    except (ValueError, KeyError, TypeError):
        remembered = StackPorts(redis=DEFAULT_REDIS_PORT, postgres=DEFAULT_POSTGRES_PORT)
    ports = StackPorts(
        redis=remembered.redis if port_is_free(remembered.redis) else free_port(),
        postgres=remembered.postgres if port_is_free(remembered.postgres) else free_port(),
    )
    record(data_dir, redis=ports.redis, postgres=ports.postgres)
    return ports


def load_or_create_dev_key(data_dir: Path) -> ApiKey:
    """The development key with every scope, created on first use."""
    secret = _private_file(data_dir / DEV_KEY_FILE, lambda: secrets.token_urlsafe(32))
    return ApiKey(name="dev", secret=secret, scopes=SCOPES)


def load_or_create_cert_key(data_dir: Path) -> str:
    """The development certificate signing key (base64url Ed25519 seed), created on first use."""
    # Any 32 random bytes are an Ed25519 private key (RFC 8032 §5.1.5 hashes the seed).
    return _private_file(data_dir / CERT_KEY_FILE, lambda: b64url(secrets.token_bytes(32)))


def _private_file(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in ``path``, written 0600 with ``make()`` when absent or empty."""
    try:
        secret = path.read_text().strip()
    except FileNotFoundError:
        secret = ""
    if not secret:
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = make()
        # Created 0600 from the start: there is no moment when others could read it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
        log.info("dev_key_created", path=str(path))
    return secret


class EmbeddedStack:
    """Starts the servers that ``settings`` has no URL for; yields settings with both URLs.

    ``servers`` names the servers it started, for the supervisor to restart when they die.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._data_dir = settings.data_dir.resolve()
        self._exit = contextlib.ExitStack()
        self.servers: dict[str, RedisServer | PostgresServer] = {}

    def __enter__(self) -> Settings:
        settings = self._settings
        if settings.redis_url and settings.database_url:
            return settings
        with self._exit as stack:
            self._lock(stack)
            ports = choose_ports(self._data_dir)
            if not settings.redis_url:
                redis = RedisServer(
                    self._data_dir / "redis",
                    ports.redis,
                    appendfsync="always" if settings.durability == "strict" else "everysec",
                )
                redis.start()
                stack.callback(redis.stop)
                self.servers["redis"] = redis
                settings = settings.replace(redis_url=redis.url)
            if not settings.database_url:
                cluster = cluster_dir(self._data_dir)
                record(self._data_dir, postgres_dir=str(cluster))
                postgres = PostgresServer(cluster, ports.postgres)
                postgres.start()
                stack.callback(postgres.stop)
                self.servers["postgres"] = postgres
                settings = settings.replace(database_url=postgres.url)
            # Started: keep the servers past this block until __exit__.
            self._exit = stack.pop_all()
        return settings

    def __exit__(self, *exc: object) -> None:
        self._exit.close()
        self.servers.clear()

    def _lock(self, stack: contextlib.ExitStack) -> None:
        self._data_dir.mkdir(parents=True, exist_ok=True)
        lock = stack.enter_context((self._data_dir / LOCK_FILE).open("a"))
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DevstackError(
                f"another waymark process runs the embedded stack in {self._data_dir}"
            ) from None
