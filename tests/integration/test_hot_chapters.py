"""Hot chapters with late resets, uncompletes and completions end exactly in the reference state.

A learner's offline queue replays dozens to hundreds of heartbeats of one chapter at once —
more than any tail the buffer or the stored row keeps — and control events whose ``ts`` lies in
the middle of them arrive later: a ``course_reset`` replayed late, an uncomplete, a completion.
Whatever was folded before they arrive, every chapter row and course percent must equal the
reference model over the distinct events.
"""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import CATALOG, auth, now_ms
from tests.integration.test_merge_property import assert_reference_state, reset_state
from tests.pipeline import Pipeline

BASE_TS = now_ms() - 7_200_000
USERS = ["u-1", "u-2"]


@st.composite
def a_hot_history(draw: st.DrawFn, user: str, first_id: int) -> list[dict[str, Any]]:
    """Heartbeats of one chapter, then late control events with ``ts`` among them."""
    n = draw(st.integers(40, 150), label="heartbeats")
    step = draw(st.sampled_from([500, 1000, 10_000]))
    events: list[dict[str, Any]] = []
    for i in range(n):
        events.append({
            "id": f"{user}-h{first_id + i:04d}", "type": "chapter_progress", "user_id": user,
            "course_id": "c-1", "chapter_id": draw(st.sampled_from(["ch-1"] * 5 + ["ch-2"])),
            "ts": BASE_TS + i * step + draw(st.integers(0, step // 2)),
            "progress": draw(st.sampled_from([5, 20, 40.5, 60, 99, 100])),
            "time_spent_s": draw(st.sampled_from([1, 2.5, 5, 10])),
            "position_s": float(i * 3),
        })
    late = draw(st.lists(st.sampled_from(
        ["course_reset", "chapter_uncompleted", "chapter_completed", "chapter_progress"]),
        min_size=1, max_size=4), label="late")
    for j, kind in enumerate(late):
        ev: dict[str, Any] = {
            "id": f"{user}-l{first_id + j:04d}", "type": kind, "user_id": user,
            "course_id": "c-1", "ts": BASE_TS + draw(st.integers(0, n - 1)) * step + 1,
        }
        if kind != "course_reset":
            ev["chapter_id"] = "ch-1"
        if kind == "chapter_progress":
            ev.update(progress=100, time_spent_s=3)
        events.append(ev)
    return events


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=st.data())
async def test_late_control_events_on_hot_chapters_end_in_the_reference_state(
    data: st.DataObject, client: TestClient, pipeline: Pipeline,
    redis_url: str, database_url: str,
) -> None:
    await reset_state(redis_url, database_url)
    resp = await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())
    assert resp.status == 200
    events: list[dict[str, Any]] = []
    stream: list[dict[str, Any]] = []
    for k, user in enumerate(USERS):
        history = data.draw(a_hot_history(user, k * 1000))
        heartbeats = [e for e in history if "-h" in e["id"]]
        late = [e for e in history if "-l" in e["id"]]
        events += history
        # heartbeats roughly in order, late events after at least half of them
        part = list(heartbeats)
        for ev in late:
            part.insert(data.draw(st.integers(len(heartbeats) // 2, len(part))), ev)
        stream += part
    for ev in data.draw(st.lists(st.sampled_from(events), max_size=10), label="resends"):
        stream.insert(data.draw(st.integers(0, len(stream))), ev)
    i = 0
    while i < len(stream):
        size = data.draw(st.integers(1, 60))
        batch = stream[i:i + size]
        i += size
        resp = await client.post("/v1/events", json={"events": batch}, headers=auth())
        body = await resp.json()
        assert resp.status == 202 and body["rejected"] == [], body
        if data.draw(st.integers(0, 3)) == 0:
            await pipeline.flush()
    await pipeline.flush()
    await assert_reference_state(events, database_url)
