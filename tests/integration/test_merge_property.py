"""Any order, duplication, batching and flush timing ends in the state the merge rules define.

Hypothesis draws event streams (with resets, uncompletes, quiz completions and ties on ``ts``),
sends them in random batches with random resends, flushes at random moments, and compares every
chapter row and course percent with the reference model in ``tests/reference.py``.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buffer.fold import TAIL_LIMIT
from tests.helpers import CATALOG, auth, now_ms
from tests.pipeline import Pipeline
from tests.reference import chapter_state, course_percent
from tests.servers import flush_redis, truncate_tables

USERS = ["u-1", "u-2"]
CHAPTERS = ["ch-1", "ch-2", "ch-3", "ch-x"]
CATALOG_ROWS = [(c["chapter_id"], c.get("weight", 1), c.get("required", True))
                for m in CATALOG["modules"] for c in m["chapters"]]
BASE_TS = now_ms() - 3_600_000


@st.composite
def an_event(draw: st.DrawFn, n: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(
        ["chapter_progress"] * 6 + ["chapter_completed", "chapter_uncompleted"] * 2
        + ["quiz_attempt", "course_reset", "enrollment", "course_viewed"]
    ))
    ev: dict[str, Any] = {
        "id": f"e{n:03d}", "type": kind, "user_id": draw(st.sampled_from(USERS)),
        "course_id": "c-1", "ts": BASE_TS + draw(st.integers(0, 30)) * 500,
    }
    if kind in ("chapter_progress", "chapter_completed", "chapter_uncompleted"):
        ev["chapter_id"] = draw(st.sampled_from(CHAPTERS))
    if kind == "chapter_progress":
        ev["progress"] = draw(st.sampled_from([0, 10, 25.5, 50, 99, 100]))
        if draw(st.booleans()):
            ev["position_s"] = draw(st.sampled_from([0, 12.5, 300]))
    if kind in ("chapter_progress", "chapter_completed") and draw(st.booleans()):
        ev["time_spent_s"] = draw(st.sampled_from([0, 1.5, 10, 30]))
    if kind == "quiz_attempt":
        ev.update(quiz_id="q-1", attempt_id=f"a{n}", score=draw(st.sampled_from([3, 7, 10])),
                  max_score=10, chapter_id=draw(st.sampled_from(CHAPTERS)))
        if draw(st.booleans()):
            ev["passed"] = draw(st.booleans())
    if kind == "enrollment":
        ev["status"] = draw(st.sampled_from(["enrolled", "paused", "dropped"]))
    return ev


def within_tail(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep at most TAIL_LIMIT events per chapter: the regime in which merging is exact."""
    seen: Counter[tuple[str, str]] = Counter()
    out = []
    for ev in events:
        key = (ev["user_id"], ev.get("chapter_id", ""))
        seen[key] += 1
        if seen[key] <= TAIL_LIMIT:
            out.append(ev)
    return out


async def reset_state(redis_url: str, database_url: str) -> None:
    await flush_redis(redis_url)
    await truncate_tables(database_url)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_any_arrival_order_gives_the_reference_state(
    data: st.DataObject, client: TestClient, pipeline: Pipeline,
    redis_url: str, database_url: str,
) -> None:
    await reset_state(redis_url, database_url)
    resp = await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())
    assert resp.status == 200
    n = data.draw(st.integers(1, 40))
    events = within_tail([data.draw(an_event(i)) for i in range(n)])
    order = data.draw(st.permutations(events))
    resends = data.draw(st.lists(st.sampled_from(events), max_size=8))
    stream = list(order)
    for ev in resends:
        stream.insert(data.draw(st.integers(0, len(stream))), ev)
    i = 0
    while i < len(stream):
        size = data.draw(st.integers(1, 8))
        batch = stream[i:i + size]
        i += size
        resp = await client.post("/v1/events", json={"events": batch}, headers=auth())
        body = await resp.json()
        assert resp.status == 202 and body["rejected"] == [], body
        if data.draw(st.booleans()):
            await pipeline.flush()
    await pipeline.flush()
    await assert_reference_state(events, database_url)


async def assert_reference_state(events: list[dict[str, Any]], database_url: str) -> None:
    """Every chapter row and course percent in PostgreSQL equals the reference model's."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = {(r["user_id"], r["chapter_id"]): r for r in await conn.fetch(
            "SELECT *, (extract(epoch FROM completed_at) * 1000)::bigint AS c_ms,"
            " (extract(epoch FROM first_activity_at) * 1000)::bigint AS f_ms,"
            " (extract(epoch FROM last_activity_at) * 1000)::bigint AS l_ms"
            " FROM chapter_progress")}
        courses = {r["user_id"]: r for r in await conn.fetch("SELECT * FROM course_progress")}
    finally:
        await conn.close()
    for user in USERS:
        refs = {ch: chapter_state(events, user, "c-1", ch) for ch in CHAPTERS}
        for ch, ref in refs.items():
            row = rows.get((user, ch))
            got = (
                (row["progress"], row["completed"], row["c_ms"], row["position_s"],
                 row["time_spent_ms"], row["f_ms"], row["l_ms"])
                if row is not None else (0.0, False, None, None, 0, None, None)
            )
            want = (ref.progress, ref.completed, ref.completed_at, ref.position_s,
                    ref.time_ms, ref.first_ts, ref.last_ts)
            assert got == want, (user, ch)
        if user in courses:
            assert float(courses[user]["percent_complete"]) == course_percent(refs, CATALOG_ROWS)


def a_long_history(seed: int, controls: bool) -> list[dict[str, Any]]:
    """60 to 200 events in (ts, id) order on two chapters of one learner, then each moved at
    most 7 places; uncompletes and resets only with ``controls``."""
    rnd = random.Random(seed)
    kinds = ["chapter_progress"] * 8 + ["chapter_completed", "quiz_attempt"]
    if controls:
        kinds += ["chapter_uncompleted", "course_reset"]
    events: list[dict[str, Any]] = []
    for i in range(rnd.randint(60, 200)):
        kind = rnd.choice(kinds)
        ev: dict[str, Any] = {"id": f"e{i:03d}", "type": kind, "user_id": "u-1",
                              "course_id": "c-1", "ts": BASE_TS + i * 200 + rnd.randint(0, 1) * 100}
        if kind.startswith("chapter_"):
            ev["chapter_id"] = rnd.choice(["ch-1", "ch-2"])
        if kind == "chapter_progress":
            ev["progress"] = rnd.choice([0, 10, 25.5, 50, 99, 100])
            if rnd.random() < 0.5:
                ev["position_s"] = rnd.choice([0, 12.5, 300])
        if kind in ("chapter_progress", "chapter_completed") and rnd.random() < 0.7:
            ev["time_spent_s"] = rnd.choice([1.5, 10, 30])
        if kind == "quiz_attempt":
            ev.update(quiz_id="q-1", attempt_id=f"a{i}", score=rnd.choice([3, 10]), max_score=10,
                      chapter_id=rnd.choice(["ch-1", "ch-2"]))
        events.append(ev)
    events.sort(key=lambda e: (e["ts"], e["id"]))
    arrival = []
    for w in range(0, len(events), 8):
        window = events[w:w + 8]
        rnd.shuffle(window)
        arrival += window
    return arrival


async def send_long_history(client: TestClient, pipeline: Pipeline, stream: list[dict[str, Any]],
                            rnd: random.Random, max_pending: int | None) -> None:
    """Random batches, flushes at random moments; with ``max_pending``, also whenever a chapter
    would get more events than that between two flushes."""
    resp = await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())
    assert resp.status == 200
    pending: Counter[str] = Counter()
    i = 0
    while i < len(stream):
        batch = stream[i:i + rnd.randint(1, max_pending or 60)]
        i += len(batch)
        if max_pending is not None:
            counts = Counter(ev.get("chapter_id", "") for ev in batch)
            if any(pending[ch] + n > max_pending for ch, n in counts.items()):
                await pipeline.flush()
                pending.clear()
            pending.update(counts)
        resp = await client.post("/v1/events", json={"events": batch}, headers=auth())
        body = await resp.json()
        assert resp.status == 202 and body["rejected"] == [], body
        if rnd.random() < 0.15:
            await pipeline.flush()
            pending.clear()
    await pipeline.flush()


@pytest.mark.parametrize("seed", range(10))
async def test_long_histories_of_progress_and_completions_give_the_reference_state(
    seed: int, client: TestClient, pipeline: Pipeline, redis_url: str, database_url: str,
) -> None:
    """Dozens of events per chapter between flushes, a little out of order: the buffer folds the
    oldest into its base (in one request and across requests); without uncompletes and resets,
    folding is exact in any order."""
    await reset_state(redis_url, database_url)
    stream = a_long_history(seed, controls=False)
    await send_long_history(client, pipeline, stream, random.Random(seed), max_pending=None)
    await assert_reference_state(stream, database_url)


@pytest.mark.parametrize("seed", range(10))
async def test_long_histories_with_uncompletes_and_resets_give_the_reference_state(
    seed: int, client: TestClient, pipeline: Pipeline, redis_url: str, database_url: str,
) -> None:
    """Uncompletes and resets at most 7 places late stay exact over long histories as long as a
    chapter gets at most 2 * TAIL_LIMIT events between two flushes (README, "Merge semantics")."""
    await reset_state(redis_url, database_url)
    stream = a_long_history(seed, controls=True)
    await send_long_history(client, pipeline, stream, random.Random(seed),
                            max_pending=2 * TAIL_LIMIT)
    await assert_reference_state(stream, database_url)
