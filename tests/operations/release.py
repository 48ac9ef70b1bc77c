"""The previous release's code, checked out from git, and its processes.

The release is the newest annotated tag ``v*``, or, in a clone of ``main`` without tags, the
commit ``CHANGELOG.md`` names in the newest release heading.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = Path("aggregator") / "migrations"


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def previous_release() -> str:
    """The newest release: its ``v*`` tag, or the commit ``CHANGELOG.md`` names for it.

    A clone of ``main`` alone (no tags) still holds the release commit in its history; a shallow
    clone deepens itself from ``origin`` first. Without either the test fails, it is never skipped.
    """
    tags = git("tag", "--list", "v*", "--sort=-v:refname")
    if tags:
        return tags.splitlines()[0]
    commit = changelog_release_commit()
    if not has_commit(commit) and "origin" in git("remote").split():
        if git("rev-parse", "--is-shallow-repository") == "true":
            subprocess.run(["git", "-C", str(ROOT), "fetch", "--unshallow", "origin"], check=False)
        subprocess.run(["git", "-C", str(ROOT), "fetch", "--tags", "origin"], check=False)
    if not has_commit(commit):
        pytest.fail(f"the release commit {commit} named in CHANGELOG.md is not in this clone: the "
                    "upgrade test starts from the newest release (clone main with its history)")
    return commit


def changelog_release_commit() -> str:
    """The full commit id of the newest release heading in ``CHANGELOG.md``."""
    text = (ROOT / "CHANGELOG.md").read_text()
    found = re.search(r"^## \d+\.\d+\.\d+ .*?commit `([0-9a-f]{40})`", text, re.M | re.S)
    if found is None:
        pytest.fail("CHANGELOG.md names no release commit (`## X.Y.Z` … commit `<40 hex>`)")
    return found.group(1)


def has_commit(rev: str) -> bool:
    probe = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{rev}^{{commit}}"],
                           capture_output=True)
    return probe.returncode == 0


def checkout(rev: str, into: Path) -> Path:
    """The tree of ``rev`` (a tag or a commit) under ``into``; ``git archive`` leaves the
    repository untouched."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev],
                          check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def migration_names(tree: Path) -> set[str]:
    return {p.name for p in (tree / MIGRATIONS).glob("*.sql")}


def process_env(redis_url: str, database_url: str, port: int, **extra: str) -> dict[str, str]:
    """The environment of the HTTP server and workers of one of these tests."""
    from devstack.servers import free_port
    from tests.conftest import API_KEYS

    return dict(os.environ, REDIS_URL=redis_url, DATABASE_URL=database_url,
                WAYMARK_API_KEYS=API_KEYS, WAYMARK_HTTP_PORT=str(port),
                WAYMARK_METRICS_LISTEN=f"127.0.0.1:{free_port()}",
                WAYMARK_MERGE_WINDOW_MS="200", WAYMARK_LEASE_S="3", WAYMARK_SHUTDOWN_S="5",
                WAYMARK_LOG_LEVEL="warning", **extra)


def release_env(tree: Path, env: dict[str, str]) -> dict[str, str]:
    """``env`` with the release's packages first on the path (before the editable install)."""
    return {**env, "PYTHONPATH": f"{tree}{os.pathsep}{tree / 'client_sdk'}"}


def run_module(tree: Path | None, env: dict[str, str], *argv: str) -> str:
    """``python -m argv`` from ``tree`` (the release) or from this checkout (``None``)."""
    cwd = tree or ROOT
    full = release_env(tree, env) if tree else env
    done = subprocess.run([sys.executable, "-m", *argv], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def spawn(tree: Path | None, env: dict[str, str], log: Path, *argv: str) -> subprocess.Popen[bytes]:
    cwd = tree or ROOT
    full = release_env(tree, env) if tree else env
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", *argv], cwd=cwd, env=full, stderr=out)
