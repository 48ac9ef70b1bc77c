"""After an erasure, a learner's stored state is what their events since it alone define.

Hypothesis draws two learners' histories in any order, with duplicates, batch splits, resets and
flushes at random moments; a batch of the erased learner's shard may be held in flight across
the erasure and applied after it. Then more events come: old ones (``ts`` at or before the
erasure) must be refused ``user_erased``, new ones count. Every chapter row and course percent
must equal the reference model (``tests/reference.py``) over the erased learner's new events
only, and over all of the other learner's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import CATALOG, auth
from tests.integration.test_merge_property import (
    BASE_TS,
    USERS,
    an_event,
    assert_reference_state,
    reset_state,
    within_tail,
)
from tests.pipeline import Pipeline

ERASED, OTHER = USERS


def no_quizzes(ev: dict[str, Any]) -> bool:
    return bool(ev["type"] != "quiz_attempt")


async def send(client: TestClient, pipeline: Pipeline, data: st.DataObject,
               stream: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Post ``stream`` in random batches with random flushes; return every rejection."""
    rejected: list[dict[str, Any]] = []
    i = 0
    while i < len(stream):
        batch = stream[i:i + data.draw(st.integers(1, 6))]
        i += len(batch)
        resp = await client.post("/v1/events", json={"events": batch}, headers=auth())
        body = await resp.json()
        assert resp.status == 202, body
        rejected += [{**r, "event": batch[r["index"]]} for r in body["rejected"]]
        if data.draw(st.booleans()):
            await pipeline.flush()
    return rejected


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_an_erased_learner_is_what_their_later_events_alone_define(
    data: st.DataObject, client: TestClient, pipeline: Pipeline,
    redis_url: str, database_url: str,
) -> None:
    await reset_state(redis_url, database_url)
    assert (await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())).status == 200
    n = data.draw(st.integers(1, 30))
    before = within_tail([e for e in (data.draw(an_event(i)) for i in range(n)) if no_quizzes(e)])
    resends = data.draw(st.lists(st.sampled_from(before), max_size=4)) if before else []
    assert await send(client, pipeline, data, data.draw(st.permutations(before)) + resends) == []
    last = {"id": "e-last", "type": "chapter_progress", "user_id": ERASED, "course_id": "c-1",
            "chapter_id": "ch-1", "progress": 60, "ts": before[0]["ts"] if before else BASE_TS}
    assert (await client.post("/v1/events", json={"events": [last]}, headers=auth())).status == 202
    held = None  # the buffer holds the learner's events; a worker may hold them in flight
    if data.draw(st.booleans()):
        held = await pipeline.buffer.drain(pipeline.buffer.shard_of(ERASED), 100)

    resp = await client.delete(f"/v1/users/{ERASED}", headers=auth())
    assert resp.status == 200
    erased_ms = round(datetime.fromisoformat((await resp.json())["erased_at"]).timestamp() * 1000)

    m = data.draw(st.integers(0, 30))
    later = [data.draw(an_event(100 + i)) for i in range(m)]
    later = within_tail([e for e in later if no_quizzes(e)])
    fresh = data.draw(st.lists(st.booleans(), min_size=len(later), max_size=len(later)))
    for ev, is_new in zip(later, fresh, strict=True):
        if is_new:  # after the erasure, on the same 500 ms grid
            ev["ts"] = erased_ms + 500 * (1 + (ev["ts"] - later[0]["ts"]) // 500 % 30)
    rejected = await send(client, pipeline, data, data.draw(st.permutations(later)))
    if held is not None:
        await pipeline.state.flusher.flush(held)
    await pipeline.flush()

    refused = {r["event"]["id"] for r in rejected}
    assert all(r["code"] == "user_erased" for r in rejected)
    assert refused == {e["id"] for e in later
                       if e["user_id"] == ERASED and e["ts"] <= erased_ms}
    counted = [e for e in before + later if e["user_id"] == OTHER] + [
        e for e in later if e["user_id"] == ERASED and e["ts"] > erased_ms]
    await assert_reference_state(counted, database_url)
