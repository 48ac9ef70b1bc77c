"""Keeps ``waymark up``'s processes running: the embedded servers, the ingest server, the workers.

A child that exits while the supervisor is not stopping is started again after a delay that
doubles with each quick failure (up to ``backoff_max_s``), so a child that cannot start does not
spin the CPU, and one that ran for a while before dying comes back at once.

A watched server (the embedded Redis or PostgreSQL) that dies is started again the same way, on
its own data directory and port. A server is not retried forever: after ``server_max_failures``
failures in a row (a restart that fails, or a restarted server that dies again within
``STABLE_AFTER_S``) ``tick`` raises ``ServerGaveUp``, and the stack stops instead of running on
with an endpoint that can only answer 503.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from devstack.processes import DevstackError, spawn

log = structlog.get_logger()

STABLE_AFTER_S = 30.0
"""A child that ran this long before exiting counts as healthy: its restart has no delay."""


class ServerGaveUp(DevstackError):
    """A watched server failed to come back ``server_max_failures`` times in a row."""

    code = "server_gave_up"


class Server(Protocol):
    """What the supervisor needs of a server: ``RedisServer`` and ``PostgresServer`` have it."""

    @property
    def running(self) -> bool: ...

    @property
    def returncode(self) -> int | None: ...

    def start(self) -> None:
        """Start on the same data and port; raise ``DevstackError`` if it does not come up."""


@dataclass(slots=True)
class _Watched:
    name: str
    server: Server
    started_at: float
    failures: int = 0
    attempt: int = 0
    restart_at: float | None = None


@dataclass(slots=True)
class _Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None


class Supervisor:
    """Named child processes and watched servers, each restarted when it exits.

    ``stop_all`` stops the children; the servers belong to whoever started them (the embedded
    stack), which stops them after the children. A server's restart blocks ``tick`` until the
    server answers (or fails to), as the children need it before anything else.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        server_max_failures: int = 5,
    ) -> None:
        self._env = dict(env)
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._server_max_failures = server_max_failures
        self._children: list[_Child] = []
        self._servers: list[_Watched] = []

    def watch(self, name: str, server: Server) -> None:
        """Restart ``server`` (already started) whenever it dies."""
        self._servers.append(_Watched(name=name, server=server, started_at=time.monotonic()))

    def start(self, name: str, argv: Sequence[str]) -> None:
        """Start a child; it shares our stdout/stderr, so its logs reach the terminal."""
        child = _Child(name=name, argv=list(argv))
        self._children.append(child)
        self._launch(child)

    def tick(self) -> None:
        """Notice exited servers and children and start again those whose delay is over."""
        for watched in self._servers:
            self._tend(watched)
        now = time.monotonic()
        for child in self._children:
            if child.proc is not None and (rc := child.proc.poll()) is not None:
                ran_s = now - child.started_at
                child.failures = 0 if ran_s >= STABLE_AFTER_S else child.failures + 1
                delay = self._delay(child.failures)
                log.error("child_exited", child=child.name, returncode=rc, restart_in_s=delay)
                child.proc = None
                child.restart_at = now + delay
            if child.proc is None and child.restart_at is not None and now >= child.restart_at:
                self._launch(child)

    def run_until(self, stop: threading.Event, poll_s: float = 0.2) -> None:
        """Supervise until ``stop`` is set (by a signal handler)."""
        while not stop.wait(poll_s):
            self.tick()

    def stop_all(self, timeout_s: float = 10.0) -> None:
        """SIGTERM every child, wait up to ``timeout_s`` in all, then SIGKILL what is left."""
        running = [(c.name, c.proc) for c in self._children if c.proc and c.proc.poll() is None]
        for _, proc in running:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for name, proc in running:
            try:
                rc = proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("child_killed", child=name, timeout_s=timeout_s)
                proc.kill()
                rc = proc.wait()
            log.info("child_stopped", child=name, returncode=rc)
        for child in self._children:
            child.proc = None
            child.restart_at = None

    def _tend(self, w: _Watched) -> None:
        now = time.monotonic()
        if w.restart_at is None:
            if w.server.running:
                return
            if w.attempt == 0 or now - w.started_at >= STABLE_AFTER_S:
                w.failures = w.attempt = 0  # a first death, or one after a healthy run
            else:
                self._count_failure(w)  # it died again soon after we restarted it
            w.restart_at = now + self._delay(w.failures)
            log.error(
                "server_exited",
                name=w.name,
                returncode=w.server.returncode,
                restart_in_s=w.restart_at - now,
            )
        if now < w.restart_at:
            return
        w.attempt += 1
        try:
            w.server.start()
        except DevstackError as e:
            log.error("server_restart_failed", name=w.name, attempt=w.attempt, error=str(e))
            self._count_failure(w)
            w.restart_at = time.monotonic() + self._delay(w.failures)
            return
        w.started_at = time.monotonic()
        w.restart_at = None
        log.info("server_restarted", name=w.name, attempt=w.attempt)

    def _count_failure(self, w: _Watched) -> None:
        w.failures += 1
        if w.failures >= self._server_max_failures:
            log.critical("server_gave_up", name=w.name, failures=w.failures)
            raise ServerGaveUp(
                f"{w.name} could not be restarted ({w.failures} failures in a row); stopping"
            )

    def _delay(self, failures: int) -> float:
        if failures == 0:
            return 0.0
        return min(self._backoff_max_s, self._backoff_initial_s * 2.0 ** (failures - 1))

    def _launch(self, child: _Child) -> None:
        child.proc = spawn(child.argv, env=self._env)
        child.started_at = time.monotonic()
        child.restart_at = None
        log.info("child_started", child=child.name, pid=child.proc.pid)
