"""Child processes of Waymark's own commands: start, wait until ready, stop.

Children are started in a process group of their own, so a Ctrl-C at the terminal reaches only
the parent, which stops them in order. They also receive SIGTERM when the thread that started
them exits (Linux), so a crashed test run or a killed ``waymark up`` leaves no server holding a
port and a data directory.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

import structlog

log = structlog.get_logger()

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
_PR_SET_PDEATHSIG = 1


class DevstackError(RuntimeError):
    """A child server could not be found, started or reached."""

    code = "devstack_failed"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:``port`` (connections in TIME_WAIT allowed)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def spawn(
    argv: Sequence[str | Path],
    *,
    stdout: IO[bytes] | int | None = None,
    env: Mapping[str, str] | None = None,
    user: pwd.struct_passwd | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a child in its own process group that dies with the calling thread."""
    uid = gid = None
    groups: list[int] | None = None
    if user is not None:
        uid, gid = user.pw_uid, user.pw_gid
        groups = os.getgrouplist(user.pw_name, user.pw_gid)
    return subprocess.Popen(
        [str(a) for a in argv],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.STDOUT if stdout is not None else None,
        env=env,
        cwd=cwd,
        process_group=0,
        preexec_fn=_parent_death_hook(),
        user=uid,
        group=gid,
        extra_groups=groups,
    )


def _parent_death_hook() -> Callable[[], None] | None:
    # PR_SET_PDEATHSIG fires when the *thread* that forked exits, so only the main thread,
    # which lives as long as the process, may rely on it.
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return hook


def stop_process(proc: subprocess.Popen[bytes], sig: int, timeout_s: float) -> int:
    """Send ``sig``, wait up to ``timeout_s``, then SIGKILL; return the exit code."""
    proc.send_signal(sig)
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        log.warning("server_stop_timed_out", pid=proc.pid, timeout_s=timeout_s)
        proc.kill()
        return proc.wait()


def log_tail(path: Path, lines: int = 30) -> str:
    """The last lines of a server's log, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def wait_ready(
    proc: subprocess.Popen[bytes], ready: Callable[[], bool], what: str, log_path: Path
) -> None:
    """Poll ``ready`` until true; fail with the log's tail if the child exits or time runs out."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        rc = proc.poll()
        if rc is not None:
            raise DevstackError(
                f"{what} exited with code {rc} while starting; end of {log_path}:\n"
                + log_tail(log_path)
            )
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise DevstackError(
                f"{what} did not become ready in {START_TIMEOUT_S:.0f} s; end of {log_path}:\n"
                + log_tail(log_path)
            )
        time.sleep(0.05)
