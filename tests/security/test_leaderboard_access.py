"""The leaderboard with a user token: the board plus the caller's own rank, never once opted out."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.helpers import CATALOG, auth, event, now_ms
from tests.integration.test_merge_property import reset_state
from tests.pipeline import Pipeline
from tests.security.conftest import bearer


async def test_a_user_token_sees_the_board_and_its_own_rank_until_it_opts_out(
    client: TestClient, pipeline: Pipeline, redis_url: str, database_url: str
) -> None:
    await reset_state(redis_url, database_url)
    cat = {**CATALOG, "modules": [{"module_id": "m", "chapters": [
        {"chapter_id": f"ch-{i}", "points": 1} for i in range(12)]}]}
    await client.put("/v1/courses/c-1", json=cat, headers=auth())
    t = now_ms() - 60_000
    users = [(f"u-{n:02d}", n) for n in range(1, 13)]  # u-01 has 1 point … u-12 has 12
    events = [event("chapter_completed", id=f"{u}-{i}", user_id=u, chapter_id=f"ch-{i}",
                    ts=t + i) for u, n in users for i in range(n)]
    assert (await client.post("/v1/events", json={"events": events}, headers=auth())).status == 202
    await pipeline.flush()
    url = "/v1/leaderboards/points?limit=3"
    board = await (await client.get(url, headers=bearer("u-02"))).json()
    assert [r["user_id"] for r in board["leaders"]] == ["u-12", "u-11", "u-10"]
    assert board["me"] == {"rank": 11, "user_id": "u-02", "points": 2}
    resp = await client.put("/v1/users/u-02/preferences", json={"leaderboard": False},
                            headers=bearer("u-02"))
    assert resp.status == 200
    board = await (await client.get(url, headers=bearer("u-02"))).json()
    assert board["me"] is None
    me = await (await client.get(url, headers=bearer("u-01"))).json()
    assert me["me"]["rank"] == 11  # u-02 left the board: u-01 moved up
    other = await client.put("/v1/users/u-01/preferences", json={"leaderboard": False},
                             headers=bearer("u-02"))
    assert other.status == 403
