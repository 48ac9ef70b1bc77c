"""The course report page draws its charts in a real headless Chromium.

The page is served by the app against real Redis and PostgreSQL after the real pipeline applied
a course's activity; ``course_report.mjs`` opens it like a browser (``Accept: text/html``),
waits for the charts and measures how much of each canvas is painted, and saves a screenshot
(kept under pytest's temporary directory; docs/img/course_report.png is one such screenshot).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from aggregator.course_report import funnel
from aggregator.queries import ChapterStats, CourseStats
from tests.browser.test_browser_sdk import CHROMIUM, JS, require_browser_tools
from tests.conftest import ADMIN_KEY
from tests.helpers import CATALOG, auth
from tests.pipeline import Pipeline

pytestmark = pytest.mark.timeout(120)
HERE = Path(__file__).resolve().parent


async def fill_course(client: TestClient, pipeline: Pipeline) -> None:
    assert (await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())).status == 200
    now = datetime.now(UTC)
    events = []
    for n in range(12):
        for k in range(n % 5 + 1):
            ts = int((now - timedelta(days=3 * n + k, hours=k)).timestamp() * 1000)
            chapter = ["ch-1", "ch-2", "ch-3"][min(2, (n + k) % 4)]
            events.append({"id": f"r-{n}-{k}", "type": "chapter_completed", "user_id": f"u-{n}",
                           "course_id": "c-1", "chapter_id": chapter, "ts": ts,
                           "time_spent_s": 120})
    resp = await client.post("/v1/events", json={"events": events}, headers=auth())
    assert resp.status == 202 and (await resp.json())["rejected"] == []
    await pipeline.flush()


async def test_the_course_report_page_draws_its_funnel_and_heatmap(
    client: TestClient, pipeline: Pipeline, tmp_path: Path,
) -> None:
    require_browser_tools()
    await fill_course(client, pipeline)
    shot = tmp_path / "course_report.png"
    proc = await asyncio.create_subprocess_exec(
        "node", str(HERE / "course_report.mjs"), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, REPORT_URL=str(client.make_url("/v1/courses/c-1/report")),
                 AUTH=ADMIN_KEY, SHOT=str(shot), CHROMIUM=CHROMIUM,
                 PLAYWRIGHT=str(JS / "node_modules" / "playwright-core" / "index.mjs")),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, err.decode()[-2000:]
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["status"] == 200 and result["type"].startswith("text/html")
    assert result["errors"] == []
    # axes alone paint about 1-2 %: bars and heatmap cells paint far more
    funnel, heatmap = result["drawn"]["funnel"], result["drawn"]["heatmap"]
    # as wide as the page's cards, and painted: axes alone paint about 2 %
    assert funnel["width"] > 900 and funnel["height"] >= 300, result
    assert heatmap["width"] > 900 and heatmap["height"] >= 150, result
    assert funnel["share"] > 0.05 and heatmap["share"] > 0.2, result
    assert shot.stat().st_size > 20_000
    if os.environ.get("WAYMARK_REPORT_SHOT"):  # to refresh the docs' screenshot
        shutil.copyfile(shot, os.environ["WAYMARK_REPORT_SHOT"])


async def test_the_report_is_json_unless_html_is_preferred(
    client: TestClient, pipeline: Pipeline,
) -> None:
    await fill_course(client, pipeline)
    resp = await client.get("/v1/courses/c-1/report", headers=auth())
    body = await resp.json()
    assert resp.status == 200 and body["stats"]["learners"] == 12
    assert [c["chapter_id"] for c in body["stats"]["funnel"]] == ["ch-1", "ch-2", "ch-3", "ch-4"]
    assert sum(d["learners"] for d in body["activity"]) > 12
    page = await client.get("/v1/courses/c-1/report",
                            headers={**auth(), "Accept": "text/html,*/*;q=0.8"})
    assert page.content_type == "text/html" and "report-data" in await page.text()
    js = await client.get("/static/chart.umd.min.js")
    assert js.status == 200 and js.content_type == "text/javascript"
    assert (await client.get("/static/..%2Fapp.py")).status == 404
    missing = await client.get("/v1/courses/nope/report", headers=auth())
    assert missing.status == 404


def test_drop_off_counts_who_stopped_at_each_required_chapter() -> None:
    stats = CourseStats(course_id="c", catalog_version=1, learners=10, completed=2,
                        in_progress=8, completion_rate=0.2, avg_progress=0, chapters=[
        ChapterStats(chapter_id="a", module_id="m", required=True, reached=10, completed=9,
                     reach_rate=1, completion_rate=0.9),
        ChapterStats(chapter_id="x", module_id="m", required=False, reached=3, completed=1,
                     reach_rate=0.3, completion_rate=0.1),
        ChapterStats(chapter_id="b", module_id="m", required=True, reached=6, completed=2,
                     reach_rate=0.6, completion_rate=0.2),
    ])
    assert [(c.chapter_id, c.drop_off) for c in funnel(stats)] == [("a", 4), ("x", 0), ("b", 4)]
