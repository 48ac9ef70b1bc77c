"""Keeps ``waymark up``'s children running: the ingest server and the workers.

A child that exits while the supervisor is not stopping is started again after a delay that
doubles with each quick failure (up to ``backoff_max_s``), so a child that cannot start does not
spin the CPU, and one that ran for a while before dying comes back at once.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import structlog

from devstack.processes import spawn

log = structlog.get_logger()

STABLE_AFTER_S = 30.0
"""A child that ran this long before exiting counts as healthy: its restart has no delay."""


@dataclass(slots=True)
class _Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None


class Supervisor:
    """Named child processes, restarted when they exit, stopped together."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        self._env = dict(env)
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._children: list[_Child] = []

    def start(self, name: str, argv: Sequence[str]) -> None:
        """Start a child; it shares our stdout/stderr, so its logs reach the terminal."""
        child = _Child(name=name, argv=list(argv))
        self._children.append(child)
        self._launch(child)

    def tick(self) -> None:
        """Notice exited children and start again those whose delay is over."""
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

    def _delay(self, failures: int) -> float:
        if failures == 0:
            return 0.0
        return min(self._backoff_max_s, self._backoff_initial_s * 2.0 ** (failures - 1))

    def _launch(self, child: _Child) -> None:
        child.proc = spawn(child.argv, env=self._env)
        child.started_at = time.monotonic()
        child.restart_at = None
        log.info("child_started", child=child.name, pid=child.proc.pid)
