"""The instructor's course report: JSON, or an HTML page with charts; and its static files.

``GET /v1/courses/{course_id}/report`` answers the report as JSON, or as a self-contained HTML
page when the client prefers ``text/html`` (a browser). The page embeds the report's data and
draws it with Chart.js and its matrix plugin, vendored in ``ingest/static`` and served by
Waymark at ``/static/…`` (no CDN). ``GET /v1/courses/{course_id}/stats`` answers the same
figures without the activity.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib import resources
from typing import TypeVar

import msgspec
from aiohttp import web

from aggregator import course_report
from aggregator.db import Conn
from ingest.context import SETTINGS
from ingest.errors import NotFound
from ingest.handlers import json_response
from ingest.replica import reading

T = TypeVar("T")
STATIC = {
    "chart.umd.min.js": "text/javascript",
    "chartjs-chart-matrix.min.js": "text/javascript",
    "course_report.js": "text/javascript",
}


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def wants_html(request: web.Request) -> bool:
    """Whether the client ranks ``text/html`` above JSON (as a browser's navigation does)."""
    best: dict[str, float] = {}
    for part in request.headers.get("Accept", "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        best[media.lower()] = max(q, best.get(media.lower(), 0.0))
    html_q = best.get("text/html", 0.0)
    return html_q > 0 and html_q >= best.get("application/json", 0.0)


async def _read(
    request: web.Request, read: Callable[[Conn, str, datetime, int], Awaitable[T | None]]
) -> T:
    course_id = request.match_info["course_id"]
    async with reading(request) as conn:
        found = await read(conn, course_id, _now(), request.app[SETTINGS].at_risk_days)
    if found is None:
        raise NotFound(f"no catalog and no learners for course {course_id!r}",
                       code="course_not_found")
    return found


async def course_stats(request: web.Request) -> web.Response:
    return json_response(await _read(request, course_report.stats_view))


async def course_report_view(request: web.Request) -> web.Response:
    report = await _read(request, course_report.report)
    if not wants_html(request):
        return json_response(report)
    return web.Response(text=render(report), content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-store", "Vary": "Accept"})


def render(report: course_report.CourseReport) -> str:
    """The page: figures as text, data as embedded JSON for the charts."""
    s = report.stats
    data = msgspec.json.encode(report).decode().replace("</", "<\\/")
    title = html.escape(report.title or report.course_id)
    tiles = [
        ("Learners", f"{s.learners}"), ("Completion", f"{100 * s.completion_rate:.1f} %"),
        ("Average progress", f"{s.avg_progress:.1f} %"), ("At risk", f"{s.at_risk}"),
        ("Median days to complete",
         "n/a" if s.median_days_to_complete is None else f"{s.median_days_to_complete:.1f}"),
    ]
    tile_html = "".join(
        f'<div class="tile"><b>{html.escape(v)}</b><span>{html.escape(k)}</span></div>'
        for k, v in tiles
    )
    rows = "".join(
        f"<tr><td>{html.escape(q.quiz_id)}</td><td>{q.learners}</td><td>{q.passed}</td>"
        f"<td>{100 * q.pass_rate:.1f} %</td></tr>" for q in s.quizzes
    ) or '<tr><td colspan="4">No quiz attempts yet</td></tr>'
    return _PAGE.format(title=title, course_id=html.escape(report.course_id),
                        as_of=report.as_of.isoformat(), tiles=tile_html, quiz_rows=rows,
                        data=data)


async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:
        raise NotFound(f"no static file {name!r}")
    body = resources.files("ingest").joinpath("static", name).read_bytes()
    return web.Response(body=body, content_type=STATIC[name],
                        headers={"Cache-Control": "public, max-age=86400"})


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — course report</title>
<style>
body {{ font: 15px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 1100px;
       color: #1d2733; padding: 0 16px; }}
h1 {{ margin: 0 0 2px; font-size: 24px; }} .sub {{ color: #5b6776; margin-bottom: 18px; }}
.tiles {{ display: flex; gap: 12px; flex-wrap: wrap; margin-bottom: 20px; }}
.tile {{ background: #f3f6fa; border-radius: 8px; padding: 10px 16px; min-width: 140px; }}
.tile b {{ display: block; font-size: 22px; }} .tile span {{ color: #5b6776; font-size: 13px; }}
.card {{ border: 1px solid #dde3ea; border-radius: 8px; padding: 12px 16px; margin-bottom: 20px; }}
h2 {{ font-size: 16px; margin: 0 0 8px; }} .chart {{ position: relative; width: 100%; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 4px 12px; text-align: left; }}
tr + tr td {{ border-top: 1px solid #eef1f5; }}
</style></head><body>
<h1>{title}</h1>
<div class="sub">Course <code>{course_id}</code> · as of {as_of} UTC</div>
<div class="tiles">{tiles}</div>
<div class="card"><h2>Completion funnel: learners who reached and completed each chapter</h2>
<div class="chart" style="height: 320px"><canvas id="funnel"></canvas></div></div>
<div class="card"><h2>Activity: learners active per day, last 26 weeks (UTC)</h2>
<div class="chart" style="height: 190px"><canvas id="heatmap"></canvas></div></div>
<div class="card"><h2>Quiz pass rates</h2>
<table><tr><th>Quiz</th><th>Learners</th><th>Passed</th><th>Pass rate</th></tr>{quiz_rows}
</table></div>
<script type="application/json" id="report-data">{data}</script>
<script src="/static/chart.umd.min.js"></script>
<script src="/static/chartjs-chart-matrix.min.js"></script>
<script src="/static/course_report.js"></script>
</body></html>
"""
