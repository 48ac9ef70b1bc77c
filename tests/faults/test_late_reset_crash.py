"""A worker killed while it recomputes chapters for a late reset loses nothing, counts nothing
twice: killed inside the transaction (rolled back), then between commit and acknowledgement."""

from __future__ import annotations

import time
from typing import Any

from tests.faults.harness import Stack, compare, send, wait_idle

USERS = 3


def hot_history(step_ms: int = 1000, heartbeats: int = 120) -> list[dict[str, Any]]:
    """Heartbeats of one chapter per learner, more than a stored tail holds."""
    start = int(time.time() * 1000) - 3_600_000
    return [
        {"id": f"h-{u}-{i}", "type": "chapter_progress", "user_id": f"u{u}", "course_id": "c-1",
         "chapter_id": "ch-0", "ts": start + i * step_ms, "progress": float(i % 90),
         "time_spent_s": 2}
        for u in range(USERS) for i in range(heartbeats)
    ]


async def test_a_worker_killed_during_a_late_reset_recompute_loses_and_doubles_nothing(
    stack: Stack,
) -> None:
    stack.start_serve()
    await stack.wait_http()
    heartbeats = hot_history()
    sent = await send(stack.url, heartbeats, batch=40, seed=5)
    worker = stack.start_worker()
    await wait_idle(stack.redis_url)  # every chapter folded past its tail in PostgreSQL
    worker.terminate()
    assert worker.wait(20) == 0
    mid = heartbeats[60]["ts"] + 1
    late = [{"id": f"r-{u}", "type": "course_reset", "user_id": f"u{u}", "course_id": "c-1",
             "ts": mid} for u in range(USERS)]
    sent_late = await send(stack.url, late, batch=USERS, seed=6)
    assert stack.start_worker(crash="during_rebuild").wait(30) == 137
    assert stack.start_worker(crash="after_commit").wait(30) == 137
    stack.start_worker()
    await wait_idle(stack.redis_url)
    events = heartbeats + late
    result = await compare(stack.database_url, events, sent.accepted_ids | sent_late.accepted_ids)
    assert (result.missing_s, result.double_counted_s, result.mismatched) == (0, 0, [])
    assert result.exact
