"""The browser SDK in a real headless Chromium against the real stack (serve + worker).

``client_sdk/js/e2e/run.mjs`` drives the demo page (served from another origin, so CORS is
exercised) through three lessons and prints what the page recorded; the tests check the server
against it. Node, ``npm ci`` in ``client_sdk/js`` and the Debian ``chromium`` are required:
``make install`` provides them, and without them these tests fail saying so rather than skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.processes import free_port
from devstack.servers import RedisServer
from tests.conftest import ADMIN_KEY, API_KEYS
from tests.helpers import wait_http, waymark_process

JS = Path(__file__).resolve().parents[2] / "client_sdk" / "js"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TOKEN_SECRET = "browser-tier-token-secret-of-32-bytes-at-least"
CATALOG = {"title": "Python 101", "modules": [{"module_id": "m1", "title": "Basics", "chapters": [
    {"chapter_id": "ch-1", "kind": "video"}, {"chapter_id": "ch-2", "kind": "video"},
    {"chapter_id": "ch-3", "kind": "video"}]}]}
pytestmark = pytest.mark.timeout(240)


def require_browser_tools() -> None:
    missing = []
    if shutil.which("node") is None:
        missing.append("node is not on PATH (Debian package nodejs)")
    if not (JS / "node_modules" / "playwright-core").is_dir():
        missing.append(f"no node_modules in {JS}: run `npm ci` there (make install does)")
    if not Path(CHROMIUM).exists():
        missing.append(f"no Chromium at {CHROMIUM}: apt-get install chromium (make install does)")
    if missing:
        pytest.fail("the browser tier cannot run: " + "; ".join(missing), pytrace=False)


def call(url: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


class Run:
    """One run of the browser script: its output, and the server it ran against."""

    def __init__(self, api: str, user: str, course: str, out: dict[str, Any]) -> None:
        self.api, self.user, self.course, self.out = api, user, course, out

    def chapter_when(
        self, chapter_id: str, done: Callable[[dict[str, Any]], bool], user: str | None = None
    ) -> dict[str, Any]:
        """The chapter as the read API shows it, once ``done`` holds (or the last seen)."""
        deadline, chapter = time.monotonic() + 20, {}
        while time.monotonic() < deadline:
            try:
                view = call(f"{self.api}/v1/users/{user or self.user}/courses/{self.course}")
                chapters = [c for m in view["modules"] for c in m["chapters"]]
                chapter = next(c for c in chapters if c["chapter_id"] == chapter_id)
                if done(chapter):
                    return chapter
            except urllib.error.HTTPError:
                pass
            time.sleep(0.2)
        return chapter


@pytest.fixture(scope="module")
def run(
    redis_server: RedisServer, migrated_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    require_browser_tools()
    logs = tmp_path_factory.mktemp("browser")
    port, demo_port = free_port(), free_port()
    env = {
        "REDIS_URL": redis_server.url, "DATABASE_URL": migrated_database_url,
        "WAYMARK_API_KEYS": API_KEYS, "WAYMARK_USER_TOKEN_SECRET": TOKEN_SECRET,
        "WAYMARK_CORS_ORIGINS": f"http://127.0.0.1:{demo_port}",
        "WAYMARK_HTTP_PORT": str(port), "WAYMARK_WORKER_METRICS_PORT": str(free_port()),
        "WAYMARK_MERGE_WINDOW_MS": "0", "WAYMARK_LOG_LEVEL": "warning",
        "WAYMARK_RATE_LIMIT_USER_RPS": "2", "WAYMARK_RATE_LIMIT_USER_BURST": "20",
    }
    api, user, course = f"http://127.0.0.1:{port}", f"learner-{uuid.uuid4().hex[:8]}", "py-101"
    with (waymark_process("serve", logs / "serve.log", **env) as serve,
          waymark_process("worker", logs / "worker.log", **env)):
        wait_http(f"{api}/health", serve)
        call(f"{api}/v1/courses/{course}", "PUT", CATALOG)
        script = subprocess.run(
            ["node", "e2e/run.mjs"], cwd=JS, capture_output=True, text=True, timeout=200,
            env=dict(os.environ, WAYMARK_API=api, WAYMARK_USER_TOKEN_SECRET=TOKEN_SECRET,
                     WAYMARK_USER=user, WAYMARK_COURSE=course, DEMO_PORT=str(demo_port),
                     CHROMIUM=CHROMIUM),
        )
        assert script.returncode == 0, f"{script.stderr[-4000:]}\n{script.stdout[-2000:]}"
        yield Run(api, user, course, json.loads(script.stdout.strip().splitlines()[-1]))


def accepted_batches(posts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in posts if p["status"] == 202 and p["answer"] is not None]


def test_a_tab_closed_mid_lesson_leaves_exactly_the_watched_progress_and_time(run: Run) -> None:
    close = run.out["close"]
    snap = close["snapshot"]
    assert close["ended"] is True  # played out to the end after seeking there…
    assert 15 < snap["progress"] < 40, snap  # …which counts only what was played
    assert close["refreshes"] >= 1  # the expired token was refreshed once it was refused
    chapter = run.chapter_when(
        "ch-1", lambda c: abs(c["time_spent_s"] - snap["timeSpentS"]) < 0.01)
    assert chapter["progress"] == snap["progress"]
    assert chapter["time_spent_s"] == pytest.approx(snap["timeSpentS"], abs=0.01)
    assert chapter["position_s"] == pytest.approx(snap["positionS"], abs=0.01)
    assert chapter["completed"] is False


def test_events_queued_offline_survive_a_reload_and_are_delivered_exactly_once(run: Run) -> None:
    offline = run.out["offline"]
    assert offline["queuedBeforeReload"] >= 1
    assert offline["restored"] >= offline["queuedBeforeReload"]
    batches = accepted_batches(offline["posts"])
    ids = [i for b in batches for i in b["ids"]]
    assert len(ids) == len(set(ids))
    assert sum(b["answer"]["accepted"] for b in batches) == len(ids)
    assert sum(b["answer"]["duplicates"] for b in batches) == 0
    assert offline["stats"]["queued"] == 0
    watched = offline["first"]["timeSpentS"] + offline["second"]["timeSpentS"]
    chapter = run.chapter_when("ch-2", lambda c: abs(c["time_spent_s"] - watched) < 0.01)
    assert chapter["time_spent_s"] == pytest.approx(watched, abs=0.01)
    # The union is kept across the reload: both visits' segments count.
    assert len(offline["second"]["segments"]) == 2, offline["second"]
    assert chapter["progress"] == offline["second"]["progress"]


def test_a_429_is_retried_no_sooner_than_its_retry_after(run: Run) -> None:
    limited = run.out["limited"]
    posts = limited["posts"]
    refused = next(i for i, p in enumerate(posts) if p["status"] == 429)
    wait_s = float(posts[refused]["retryAfter"])
    retry = posts[refused + 1]
    assert retry["startedAt"] - posts[refused]["at"] >= wait_s * 1000 - 50
    assert retry["ids"] == posts[refused]["ids"]  # the same events, ids and all
    assert limited["stats"]["retries"] >= 1
    assert limited["stats"]["queued"] == 0
    snap = limited["snapshot"]
    chapter = run.chapter_when(
        "ch-3", lambda c: abs(c["time_spent_s"] - snap["timeSpentS"]) < 0.01, limited["learner"])
    assert chapter["time_spent_s"] == pytest.approx(snap["timeSpentS"], abs=0.01)


def test_the_browser_tier_stays_within_its_time_budget(run: Run) -> None:
    assert run.out["seconds"] < 120
