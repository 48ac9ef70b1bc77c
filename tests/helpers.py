"""Building events and batches in tests, and running ``waymark`` commands as processes."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.conftest import ADMIN_KEY

_ids = itertools.count(1)


def now_ms() -> int:
    return int(time.time() * 1000)


def event(type_: str, **fields: Any) -> dict[str, Any]:
    """A valid event of ``type_`` with defaults for the common fields."""
    ev: dict[str, Any] = {
        "id": f"ev-{next(_ids)}",
        "type": type_,
        "user_id": "u-1",
        "course_id": "c-1",
        "ts": now_ms() - 60_000,
    }
    ev.update(fields)
    return ev


def auth(key: str = ADMIN_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


CATALOG = {
    "title": "Python 101",
    "modules": [
        {"module_id": "m1", "title": "Basics", "chapters": [
            {"chapter_id": "ch-1", "weight": 1},
            {"chapter_id": "ch-2", "weight": 1},
        ]},
        {"module_id": "m2", "title": "More", "chapters": [
            {"chapter_id": "ch-3", "weight": 2},
            {"chapter_id": "ch-4", "weight": 1, "required": False},
        ]},
    ],
}


@contextlib.contextmanager
def waymark_process(command: str, log: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """``waymark <command>`` with ``env`` over this environment and its output in ``log``;
    sent SIGTERM and waited for on the way out (the exit code is left to the caller)."""
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "waymark", command],
                                env=dict(os.environ, **env), stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """Wait until ``url`` answers 200 while ``proc`` keeps running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the process exited ({proc.returncode})"
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {timeout} s")
