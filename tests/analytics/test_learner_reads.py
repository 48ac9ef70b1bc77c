"""Sessions, history, reports and forecast read back through the API after the real pipeline."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import CATALOG, auth, event
from tests.pipeline import Pipeline

DAY = datetime.now(UTC).date() - timedelta(days=10)


def ms(d: date, hh: int, mm: int = 0) -> int:
    return int(datetime(d.year, d.month, d.day, hh, mm, tzinfo=UTC).timestamp() * 1000)


D1 = DAY + timedelta(days=1)
D3 = DAY + timedelta(days=3)
EVENTS = [
    event("chapter_completed", chapter_id="ch-1", ts=ms(DAY, 23, 50), time_spent_s=60),
    event("chapter_progress", chapter_id="ch-2", ts=ms(D1, 0, 10), progress=40, time_spent_s=30),
    event("quiz_attempt", quiz_id="q-1", attempt_id="a-1", score=9, max_score=10, passed=True,
          ts=ms(D1, 0, 15)),
    event("course_viewed", ts=ms(D1, 5)),
    event("chapter_completed", chapter_id="ch-3", ts=ms(D3, 9), time_spent_s=600),
]


async def send(client: TestClient, pipeline: Pipeline, events: list[dict[str, Any]]) -> None:
    assert (await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())).status == 200
    resp = await client.post("/v1/events", json={"events": events}, headers=auth())
    assert resp.status == 202 and (await resp.json())["rejected"] == []
    await pipeline.flush()


async def get(client: TestClient, path: str, **params: str) -> Any:
    resp = await client.get(path, params=params, headers=auth())
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_a_session_across_midnight_is_one_session_and_views_do_not_extend_it(
    client: TestClient, pipeline: Pipeline,
) -> None:
    await send(client, pipeline, EVENTS)
    body = await get(client, "/v1/users/u-1/sessions", **{"from": DAY.isoformat(),
                                                           "to": D3.isoformat()})
    got = [(s["events"], s["time_spent_s"], s["courses"], len(s["chapters"]))
           for s in body["sessions"]]
    assert got == [(3, 90.0, ["c-1"], 2), (1, 600.0, ["c-1"], 1)]
    first = body["sessions"][0]
    assert first["duration_s"] == 25 * 60
    # selected by started_at: the session that started the day before is not in D1..D3
    later = await get(client, "/v1/users/u-1/sessions", **{"from": D1.isoformat(),
                                                            "to": D3.isoformat()})
    assert len(later["sessions"]) == 1


async def test_history_gives_the_end_of_day_percent_on_each_active_day(
    client: TestClient, pipeline: Pipeline,
) -> None:
    await send(client, pipeline, EVENTS)
    body = await get(client, "/v1/users/u-1/courses/c-1/history",
                     **{"from": DAY.isoformat(), "to": D3.isoformat()})
    assert [(d["day"], d["percent_complete"]) for d in body["days"]] == [
        (DAY.isoformat(), 25.0), (D1.isoformat(), 25.0), (D3.isoformat(), 75.0)]


async def test_the_weekly_and_monthly_reports_count_what_fell_inside_them(
    client: TestClient, pipeline: Pipeline,
) -> None:
    await send(client, pipeline, EVENTS)
    y, w, _ = D3.isocalendar()
    body = await get(client, "/v1/users/u-1/reports/weekly", week=f"{y}-W{w:02d}")
    inside = [d for d in (DAY, D1, D3) if d.isocalendar()[:2] == (y, w)]
    f = body["figures"]
    assert f["active_days"] == len(inside)
    assert f["chapters_completed"] == len([d for d in (DAY, D3) if d in inside])
    assert f["courses_completed"] == 0 and f["consistency"] == round(len(inside) / 7, 4)
    assert body["change"]["active_days"] == f["active_days"] - body["previous_figures"][
        "active_days"]
    month = await get(client, "/v1/users/u-1/reports/monthly", month=f"{D3:%Y-%m}")
    assert month["start"] == f"{D3:%Y-%m}-01"


async def test_bad_periods_and_ranges_answer_invalid_query(client: TestClient) -> None:
    for path, params in [
        ("/v1/users/u-1/reports/weekly", {"week": "2026-48"}),
        ("/v1/users/u-1/reports/monthly", {"month": "2026-13"}),
        ("/v1/users/u-1/sessions", {"from": "2026-11-02", "to": "2026-11-01"}),
        ("/v1/users/u-1/courses/c-1/history", {"from": "yesterday"}),
    ]:
        resp = await client.get(path, params=params, headers=auth())
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "invalid_query"


async def test_the_forecast_extrapolates_recent_pace_and_names_no_risk_while_active(
    client: TestClient, pipeline: Pipeline,
) -> None:
    await send(client, pipeline, EVENTS)
    body = await get(client, "/v1/users/u-1/courses/c-1/forecast")
    # 3 of 4 weight done on 3 active days: 1 per active day, 1 left at 3 active days a fortnight
    assert body["velocity"] == 1.0 and body["at_risk"] is False
    predicted = datetime.fromisoformat(body["predicted_completion_at"])
    end = datetime(D3.year, D3.month, D3.day, 23, 59, 59, tzinfo=UTC)
    assert abs((predicted - end).total_seconds() - 14 / 3 * 86400) < 1
    missing = await client.get("/v1/users/u-9/courses/c-1/forecast", headers=auth())
    assert missing.status == 404
