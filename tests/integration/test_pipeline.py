"""Events in over HTTP, progress out of the read API, through Redis and PostgreSQL."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import CATALOG, auth, event, now_ms
from tests.pipeline import Pipeline


async def post(client: TestClient, events: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    resp = await client.post("/v1/events", json={"events": events}, headers=auth(), **kw)
    assert resp.status == 202, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def progress(client: TestClient, user: str = "u-1", course: str = "c-1") -> dict[str, Any]:
    resp = await client.get(f"/v1/users/{user}/courses/{course}", headers=auth())
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


def chapter(view: dict[str, Any], chapter_id: str) -> dict[str, Any]:
    for m in view["modules"]:
        for ch in m["chapters"]:
            if ch["chapter_id"] == chapter_id:
                return dict(ch)
    for ch in view["other_chapters"]:
        if ch["chapter_id"] == chapter_id:
            return dict(ch)
    raise AssertionError(f"{chapter_id} not in view")


async def put_catalog(client: TestClient, course: str = "c-1") -> None:
    resp = await client.put(f"/v1/courses/{course}", json=CATALOG, headers=auth())
    assert resp.status == 200, await resp.text()


async def test_chapter_progress_reaches_the_read_api(
    client: TestClient, pipeline: Pipeline
) -> None:
    await put_catalog(client)
    t = now_ms() - 60_000
    body = await post(client, [
        event("chapter_progress", chapter_id="ch-1", progress=40, position_s=100,
              time_spent_s=10, ts=t),
        event("chapter_progress", chapter_id="ch-1", progress=75, position_s=312.5,
              time_spent_s=10, ts=t + 1),
        event("chapter_progress", chapter_id="ch-1", progress=60, position_s=200,
              time_spent_s=5, ts=t + 2),
    ])
    assert body == {"accepted": 3, "duplicates": 0, "rejected": []}
    await pipeline.flush()
    view = await progress(client)
    ch = chapter(view, "ch-1")
    assert ch["progress"] == 75
    assert ch["position_s"] == 200
    assert ch["time_spent_s"] == 25
    assert not ch["completed"]
    assert view["percent_complete"] == 0
    assert view["status"] == "in_progress"
    assert view["total_chapters"] == 3
    assert view["time_spent_s"] == 25


async def test_completions_drive_the_course_percent(client: TestClient, pipeline: Pipeline) -> None:
    await put_catalog(client)
    await post(client, [
        event("chapter_completed", chapter_id="ch-1", time_spent_s=30),
        event("chapter_progress", chapter_id="ch-3", progress=100),
        event("chapter_completed", chapter_id="ch-4"),
    ])
    await pipeline.flush()
    view = await progress(client)
    # required weights: ch-1 1, ch-2 1, ch-3 2 → (1 + 2) / 4
    assert view["percent_complete"] == 75.0
    assert view["completed_chapters"] == 2
    assert view["modules"][0]["percent_complete"] == 50.0
    assert view["modules"][1]["percent_complete"] == 100.0
    await post(client, [event("chapter_completed", chapter_id="ch-2")])
    await pipeline.flush()
    view = await progress(client)
    assert view["percent_complete"] == 100.0
    assert view["status"] == "completed"
    assert view["completed_at"] is not None


async def test_the_lag_of_every_applied_entry_is_observed(
    client: TestClient, pipeline: Pipeline
) -> None:
    await post(client, [event("chapter_progress", chapter_id=f"ch-{i}", progress=1)
                        for i in range(3)])
    await pipeline.flush()
    lag = pipeline.state.metrics.event_lag
    count = next(s.value for s in lag.collect()[0].samples if s.name.endswith("_count"))
    assert count == 3  # one per chapter entry
