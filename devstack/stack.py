"""``waymark up`` and ``waymark stack``: the development stack, supervised until Ctrl-C.

``run_up`` starts the embedded Redis and PostgreSQL (unless their URLs are set), applies the
migrations, creates the development key when no key is configured (and the certificate
signing key when none is configured), then runs the ingest server
and the workers. One loop supervises all of it: a child or a server that dies is started again
with back-off; a server that cannot be started again stops the whole stack with exit status 1
(``ServerGaveUp`` reaches the CLI as a ``DevstackError``). Ctrl-C or SIGTERM stops the children
first, then the servers.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import sys
import threading

import structlog

from devstack.embedded import EmbeddedStack, load_or_create_cert_key, load_or_create_dev_key
from devstack.supervisor import Supervisor
from waymark.logs import mask_url
from waymark.settings import ApiKey, Settings, format_api_keys

log = structlog.get_logger()

CHILD_STOP_TIMEOUT_S = 10.0
POLL_S = 0.2


def run_up(settings: Settings) -> int:
    """The whole stack in the foreground; return the exit code after Ctrl-C."""
    stop = stop_on_signals()
    embedded = EmbeddedStack(settings)
    with embedded as live:
        assert live.redis_url is not None and live.database_url is not None
        _apply_migrations(live.database_url)
        keys = live.api_keys or (dev_key(live),)
        env = os.environ | {
            "REDIS_URL": live.redis_url,
            "DATABASE_URL": live.database_url,
            "WAYMARK_API_KEYS": format_api_keys(keys),
            "WAYMARK_CERT_SIGNING_KEY": (
                live.cert_signing_key or load_or_create_cert_key(live.data_dir)
            ),
        }
        supervisor = Supervisor(env)
        for name, server in embedded.servers.items():
            supervisor.watch(name, server)
        try:
            for i in range(live.http_processes):
                name = "serve" if live.http_processes == 1 else f"serve-{i}"
                argv = [sys.executable, "-m", "waymark", "serve", "--index", str(i)]
                supervisor.start(name, argv)
            for i in range(live.workers):
                argv = [sys.executable, "-m", "waymark", "worker", "--index", str(i)]
                supervisor.start(f"worker-{i}", argv)
            base = f"http://{live.http_host}:{live.http_port}"
            log.info(
                "waymark_up",
                http=base,
                metrics=metrics_url(live),
                alerts=f"{base}/v1/alerts",
                redis=mask_url(live.redis_url),
                postgres=mask_url(live.database_url),
                workers=live.workers,
            )
            supervisor.run_until(stop, POLL_S)
            log.info("waymark_stopping")
        finally:
            supervisor.stop_all(CHILD_STOP_TIMEOUT_S)
    return 0


def run_stack(settings: Settings) -> int:
    """Only the embedded servers, their URLs printed as ``export`` lines, until Ctrl-C."""
    stop = stop_on_signals()
    embedded = EmbeddedStack(settings)
    with embedded as live:
        print(f"export REDIS_URL={shlex.quote(live.redis_url or '')}")
        print(f"export DATABASE_URL={shlex.quote(live.database_url or '')}", flush=True)
        supervisor = Supervisor(os.environ)
        for name, server in embedded.servers.items():
            supervisor.watch(name, server)
        supervisor.run_until(stop, POLL_S)
    return 0


def dev_key(settings: Settings) -> ApiKey:
    """The development key, printed (stdout, never the log: secrets stay out of logs)."""
    key = load_or_create_dev_key(settings.data_dir)
    print(f"dev key: {key.secret}", flush=True)
    return key


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM."""
    # Children run in their own process group, so Ctrl-C reaches only us: we stop them in order.
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        # Only set the flag: logging here could re-enter a log write the signal interrupted.
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    return stop


def _apply_migrations(dsn: str) -> None:
    from aggregator.db import migrate

    log.info("migrations_applied", versions=asyncio.run(migrate(dsn)))


def metrics_url(settings: Settings) -> str:
    """Where the (first) HTTP server's ``/metrics`` is, as ``WAYMARK_METRICS_LISTEN`` puts it."""
    address = settings.metrics_address
    if address is None:
        return f"http://{settings.http_host}:{settings.http_port}/metrics"
    host = f"[{address[0]}]" if ":" in address[0] else address[0]
    return f"http://{host}:{address[1]}/metrics"
