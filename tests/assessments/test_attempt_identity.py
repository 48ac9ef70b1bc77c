"""A quiz attempt belongs to its learner: ``(user_id, attempt_id)`` identifies it."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.helpers import event, now_ms
from tests.integration.test_pipeline import post, progress, put_catalog
from tests.pipeline import Pipeline
from tests.progress.support import outbox, stop_background_relay


async def test_two_learners_may_both_send_attempt_1_and_both_attempts_count(
    client: TestClient, pipeline: Pipeline, database_url: str
) -> None:
    await stop_background_relay(pipeline)
    await put_catalog(client)
    t = now_ms() - 60_000
    quiz = {"quiz_id": "q-1", "attempt_id": "attempt-1", "score": 9, "max_score": 10}
    await post(client, [event("quiz_attempt", user_id="u-1", ts=t, **quiz),
                        event("quiz_attempt", user_id="u-2", ts=t + 1, **quiz)])
    await pipeline.flush()
    for user in ("u-1", "u-2"):
        view = await progress(client, user)
        assert [(q["quiz_id"], q["attempts"], q["passed"]) for q in view["quizzes"]] == [
            ("q-1", 1, True)
        ]
    passed = [r["user_id"] for r in await outbox(database_url) if r["type"] == "quiz.passed"]
    assert sorted(passed) == ["u-1", "u-2"]
