"""Achievement definitions, awards through the pipeline, points, leaderboards, certificates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from aggregator.achievement_backfill import backfill
from aggregator.certificates import certificate_fields
from aggregator.signing import load_signer
from tests.conftest import CERT_SIGNING_KEY, READ_KEY
from tests.helpers import CATALOG, auth, event, now_ms
from tests.integration.test_merge_property import reset_state
from tests.pipeline import Pipeline
from workers.main import backfill_achievement

REWARDED = {**CATALOG, "certificate": {"enabled": True}, "modules": [
    {"module_id": "m1", "chapters": [{"chapter_id": "ch-1", "points": 5},
                                     {"chapter_id": "ch-2"}]}]}


async def define(client: TestClient, aid: str, body: dict[str, Any]) -> Any:
    resp = await client.put(f"/v1/achievements/{aid}", json=body, headers=auth())
    return resp.status, await resp.json()


async def send(client: TestClient, *events: dict[str, Any]) -> None:
    resp = await client.post("/v1/events", json={"events": list(events)}, headers=auth())
    assert resp.status == 202, await resp.text()


async def outbox(database_url: str, type_: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch("SELECT user_id, payload FROM outbox WHERE type = $1", type_)
    finally:
        await conn.close()


async def test_bad_definitions_answer_400_and_store_nothing(
    client: TestClient, redis_url: str, database_url: str
) -> None:
    await reset_state(redis_url, database_url)
    crit = {"kind": "chapters_completed", "threshold": 1}
    for body, word in [
        ({"criteria": {**crit, "kind": "moon_landings"}}, "criteria.kind"),
        ({"criteria": {**crit, "threshold": 0}}, "threshold"),
        ({"criteria": {**crit, "course_id": "nope"}}, "unknown course"),
        ({"criteria": crit, "points": -1}, "points"),
        ({"criteria": crit, "points": 10**9}, "points"),
        ({"criteria": {"kind": "streak_days", "threshold": 2, "course_id": "c-1"}}, "course"),
    ]:
        status, out = await define(client, "bad", body)
        assert status == 400, body
        assert out["error"]["code"] == "invalid_definition" and word in out["error"]["message"]
    resp = await client.get("/v1/achievements/bad", headers=auth())
    assert resp.status == 404
    assert (await (await client.get("/v1/achievements", headers=auth())).json()) == {
        "achievements": []}


async def test_an_achievement_is_awarded_once_with_points_an_event_and_its_moment(
    client: TestClient, pipeline: Pipeline, redis_url: str, database_url: str
) -> None:
    await reset_state(redis_url, database_url)
    assert (await client.put("/v1/courses/c-1", json=REWARDED, headers=auth())).status == 200
    status, view = await define(client, "first", {
        "title": "First steps", "points": 10,
        "criteria": {"kind": "chapters_completed", "threshold": 1, "course_id": "c-1"}})
    assert status == 200 and view["version"] == 1
    t = now_ms() - 60_000
    await send(client, event("chapter_completed", id="e2", user_id="u-1", chapter_id="ch-1",
                             ts=t + 2000))
    await pipeline.flush()
    # a late completion with an earlier ts moves the moment; a re-completion adds nothing
    await send(client, event("chapter_completed", id="e1", user_id="u-1", chapter_id="ch-2",
                             ts=t + 1000),
               event("chapter_uncompleted", id="e3", user_id="u-1", chapter_id="ch-1", ts=t + 3000),
               event("chapter_completed", id="e4", user_id="u-1", chapter_id="ch-1", ts=t + 4000))
    await pipeline.flush()
    got = await (await client.get("/v1/users/u-1/achievements", headers=auth())).json()
    assert [(a["achievement_id"], a["points"]) for a in got["achievements"]] == [("first", 10)]
    awarded = datetime.fromisoformat(got["achievements"][0]["awarded_at"])
    assert awarded == datetime.fromtimestamp((t + 1000) / 1000, UTC)
    pts = await (await client.get("/v1/users/u-1/points", headers=auth())).json()
    assert pts["balance"] == 15
    assert sorted((e["reason"], e["points"]) for e in pts["entries"]) == [
        ("achievement", 10), ("chapter_completed", 5)]
    assert len(await outbox(database_url, "achievement.awarded")) == 1
    # both chapters ever completed: the course certificate is issued once, signed
    certs = await outbox(database_url, "certificate.issued")
    assert len(certs) == 1
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT * FROM certificates WHERE user_id = 'u-1'")
    finally:
        await conn.close()
    assert row is not None and len(row["code"]) == 16
    signer = load_signer(CERT_SIGNING_KEY)
    fields = certificate_fields(row)
    assert signer.verify(fields, row["kid"], row["signature"])
    assert not signer.verify({**fields, "title": "Other"}, row["kid"], row["signature"])


async def test_a_new_definition_is_backfilled_to_learners_who_already_qualify(
    client: TestClient, pipeline: Pipeline, redis_url: str, database_url: str, settings: Any
) -> None:
    await reset_state(redis_url, database_url)
    await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())
    t = now_ms() - 60_000
    await send(client, *[event("chapter_completed", id=f"b{u}", user_id=f"u-{u}",
                               chapter_id="ch-1", ts=t + u) for u in range(3)],
               event("chapter_progress", id="p9", user_id="u-9", chapter_id="ch-1", ts=t,
                     progress=10))
    await pipeline.flush()
    status, _ = await define(client, "late", {
        "points": 3, "criteria": {"kind": "chapters_completed", "threshold": 1}})
    assert status == 200
    done = await backfill_achievement(pipeline.ctx, "late", 1)  # the worker's job
    assert done == 4
    counted = pipeline.state.metrics.achievement_backfill._value.get()
    assert counted == 4
    assert await backfill(pipeline.state.pool, "late", 1, batch=2, pause_s=0) == 4  # no twice
    assert len(await outbox(database_url, "achievement.awarded")) == 3
    view = await (await client.get("/v1/achievements/late", headers=auth())).json()
    assert view["backfill"] == "done"
    board = await (await client.get("/v1/leaderboards/points?period=all&limit=2",
                                    headers=auth(READ_KEY))).json()
    assert [r["points"] for r in board["leaders"]] == [3, 3] and board["me"] is None


async def test_leaderboards_rank_by_points_and_an_opted_out_learner_appears_nowhere(
    client: TestClient, pipeline: Pipeline, redis_url: str, database_url: str
) -> None:
    await reset_state(redis_url, database_url)
    cat = {**CATALOG, "modules": [{"module_id": "m", "chapters": [
        {"chapter_id": f"ch-{i}", "points": 10} for i in range(3)]}]}
    await client.put("/v1/courses/c-1", json=cat, headers=auth())
    t = now_ms() - 60_000
    await send(client, *[event("chapter_completed", id=f"{u}-{i}", user_id=u,
                               chapter_id=f"ch-{i}", ts=t + i)
                         for u, n in (("u-a", 3), ("u-b", 1), ("u-c", 2)) for i in range(n)])
    await pipeline.flush()
    url = "/v1/leaderboards/points?course_id=c-1&period=week&limit=10"
    board = await (await client.get(url, headers=auth(READ_KEY))).json()
    assert [(r["rank"], r["user_id"], r["points"]) for r in board["leaders"]] == [
        (1, "u-a", 30), (2, "u-c", 20), (3, "u-b", 10)]
    resp = await client.put("/v1/users/u-c/preferences", json={"leaderboard": False},
                            headers=auth())
    assert resp.status == 200
    board = await (await client.get(url, headers=auth(READ_KEY))).json()
    assert [r["user_id"] for r in board["leaders"]] == ["u-a", "u-b"]
    assert board["leaders"][1]["rank"] == 2
    for bad in ("period=year", "limit=0", "limit=x"):
        resp = await client.get(f"/v1/leaderboards/points?{bad}", headers=auth(READ_KEY))
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_query"


async def test_a_path_ever_completed_counts_and_issues_its_certificate_once(
    client: TestClient, pipeline: Pipeline, redis_url: str, database_url: str
) -> None:
    await reset_state(redis_url, database_url)
    for c in ("c-1", "c-2"):
        cat = {"title": c, "modules": [{"module_id": "m", "chapters": [{"chapter_id": "ch-1"}]}]}
        assert (await client.put(f"/v1/courses/{c}", json=cat, headers=auth())).status == 200
    path = {"title": "Track", "courses": [{"course_id": "c-1"}, {"course_id": "c-2"}],
            "certificate": {"enabled": True}}
    assert (await client.put("/v1/paths/p-1", json=path, headers=auth())).status == 200
    status, _ = await define(client, "pathfinder", {
        "points": 4, "criteria": {"kind": "paths_completed", "threshold": 1}})
    assert status == 200
    t = now_ms() - 60_000
    await send(client, event("chapter_completed", id="x1", user_id="u-1", course_id="c-1",
                             chapter_id="ch-1", ts=t + 1))
    await pipeline.flush()
    assert await outbox(database_url, "certificate.issued") == []
    # the path's last course, then a reset and its completion again: nothing more is issued
    await send(client, event("chapter_completed", id="x2", user_id="u-1", course_id="c-2",
                             chapter_id="ch-1", ts=t + 2))
    await pipeline.flush()
    await send(client, event("course_reset", id="x3", user_id="u-1", course_id="c-2", ts=t + 3),
               event("chapter_completed", id="x4", user_id="u-1", course_id="c-2",
                     chapter_id="ch-1", ts=t + 4))
    await pipeline.flush()
    certs = await outbox(database_url, "certificate.issued")
    assert len(certs) == 1 and '"path_id": "p-1"' in certs[0]["payload"]
    got = await (await client.get("/v1/users/u-1/achievements", headers=auth())).json()
    assert [a["achievement_id"] for a in got["achievements"]] == ["pathfinder"]
    awarded = datetime.fromisoformat(got["achievements"][0]["awarded_at"])
    assert awarded == datetime.fromtimestamp((t + 2) / 1000, UTC)


async def test_a_certificate_with_a_quiz_minimum_waits_for_the_quiz(
    client: TestClient, pipeline: Pipeline, redis_url: str, database_url: str
) -> None:
    await reset_state(redis_url, database_url)
    cat = {"title": "Quizzed", "certificate": {"enabled": True, "min_quiz_percent": 80},
           "modules": [{"module_id": "m", "chapters": [{"chapter_id": "ch-1"}]}],
           "quizzes": [{"quiz_id": "q-1"}]}
    assert (await client.put("/v1/courses/c-1", json=cat, headers=auth())).status == 200
    status, _ = await define(client, "ace", {"criteria": {"kind": "quiz_perfect", "threshold": 1}})
    assert status == 200
    t = now_ms() - 60_000
    await send(client, event("chapter_completed", id="q0", user_id="u-1", chapter_id="ch-1",
                             ts=t),
               event("quiz_attempt", id="q1", user_id="u-1", quiz_id="q-1", attempt_id="a1",
                     score=7, max_score=10, ts=t + 1))
    await pipeline.flush()
    assert await outbox(database_url, "certificate.issued") == []
    await send(client, event("quiz_attempt", id="q2", user_id="u-1", quiz_id="q-1",
                             attempt_id="a2", score=10, max_score=10, ts=t + 2))
    await pipeline.flush()
    assert len(await outbox(database_url, "certificate.issued")) == 1
    got = await (await client.get("/v1/users/u-1/achievements", headers=auth())).json()
    assert [a["achievement_id"] for a in got["achievements"]] == ["ace"]
    # a perfect attempt from before arrives late: the moment moves to it, nothing else happens
    await send(client, event("quiz_attempt", id="q3", user_id="u-1", quiz_id="q-1",
                             attempt_id="a0", score=10, max_score=10, ts=t - 5))
    await pipeline.flush()
    got = await (await client.get("/v1/users/u-1/achievements", headers=auth())).json()
    awarded = datetime.fromisoformat(got["achievements"][0]["awarded_at"])
    assert awarded == datetime.fromtimestamp((t - 5) / 1000, UTC)
    assert len(await outbox(database_url, "achievement.awarded")) == 1
    assert len(await outbox(database_url, "certificate.issued")) == 1


async def test_a_learners_export_holds_their_rewards_and_erasure_removes_them(
    client: TestClient, pipeline: Pipeline, redis_url: str, database_url: str
) -> None:
    await reset_state(redis_url, database_url)
    await client.put("/v1/courses/c-1", json=REWARDED, headers=auth())
    await define(client, "first", {"points": 2,
                                   "criteria": {"kind": "chapters_completed", "threshold": 1}})
    await client.put("/v1/users/u-1/preferences", json={"leaderboard": False}, headers=auth())
    t = now_ms() - 60_000
    await send(client, *[event("chapter_completed", id=f"x{i}", user_id="u-1", chapter_id=ch,
                               ts=t + i) for i, ch in enumerate(("ch-1", "ch-2"))])
    await pipeline.flush()
    sections = (await (await client.get("/v1/users/u-1/export", headers=auth())).json())["sections"]
    assert [a["achievement_id"] for a in sections["achievements"]] == ["first"]
    assert sum(p["points"] for p in sections["points"]) == 7
    assert len(sections["certificates"]) == 1 and sections["preferences"][0]["leaderboard"] is False
    assert {m["kind"] for m in sections["milestones"]} == {"chapter", "course"}
    assert (await client.delete("/v1/users/u-1", headers=auth())).status == 200
    conn = await asyncpg.connect(database_url)
    try:
        for table in ("learner_milestones", "achievement_awards", "points_ledger", "points_totals",
                      "learner_preferences", "certificates"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    finally:
        await conn.close()
