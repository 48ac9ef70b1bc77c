"""``waymark up`` / ``waymark stack`` as a process under test: its environment, its JSON log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def stack_env(**extra: str) -> dict[str, str]:
    """This environment without Waymark's settings or server URLs, JSON logs, then ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAYMARK_")}
    env.pop("REDIS_URL", None)
    env.pop("DATABASE_URL", None)
    return env | {"WAYMARK_LOG_FORMAT": "json"} | extra


@contextlib.contextmanager
def waymark_running(
    *args: str, env: dict[str, str], log: Path, cwd: Path = REPO
) -> Iterator[subprocess.Popen[str]]:
    """``python -m waymark ARGS`` with stdout piped to the test and stderr (logs) to ``log``;
    killed on the way out if it still runs."""
    argv = [sys.executable, "-m", "waymark", *args]
    with (
        log.open("w") as stderr,
        subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        ) as proc,
    ):
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def answers(url: str, proc: subprocess.Popen[str], within_s: float) -> bool:
    """Whether ``url`` answers 200 within ``within_s`` while ``proc`` runs."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            time.sleep(0.2)
    return False


def logged(log: Path, event: str, **fields: Any) -> list[dict[str, Any]]:
    """The JSON log lines of ``event`` whose fields include ``fields``."""
    found = []
    for line in log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == event and (
            entry.items() >= fields.items()
        ):
            found.append(entry)
    return found


async def wait_logged(log: Path, event: str, within_s: float, **fields: Any) -> dict[str, Any]:
    """The first log line of ``event`` with ``fields``, waiting up to ``within_s`` for it."""
    deadline = time.monotonic() + within_s
    while not (found := logged(log, event, **fields)):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {event} {fields} logged in {within_s} s (see {log})")
        await asyncio.sleep(0.05)
    return found[0]
