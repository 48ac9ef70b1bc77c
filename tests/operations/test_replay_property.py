"""Restore PostgreSQL to any earlier moment, replay, and the state is the reference state.

Hypothesis draws a history (resets, uncompletes, quiz completions, ties on ``ts``), sends it in
random batches with resends and random flushes, takes a ``pg_dump`` at a random moment, sends
the rest, restores the dump, runs ``waymark replay``'s function and lets the workers finish:
every chapter row and course percent equals ``tests/reference.py`` over all the events.
``WAYMARK_REPLAY_EXAMPLES`` sets how many histories (8 by default: each one dumps and restores).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.db import migrate
from ingest.app import SERVER_OPTIONS, create_app
from tests.helpers import CATALOG, auth
from tests.integration.test_merge_property import an_event, assert_reference_state, within_tail
from tests.operations.test_backup_restore import pg_tool
from tests.pipeline import Pipeline
from tests.servers import flush_redis, truncate_tables
from waymark.settings import Settings
from workers.replay import ReplayRefused, replay

EXAMPLES = int(os.environ.get("WAYMARK_REPLAY_EXAMPLES", "8"))


async def replay_when_the_relay_is_idle(s: Settings) -> int:
    for _ in range(100):
        try:
            return (await replay(s)).applied
        except ReplayRefused:  # the test pipeline's relay holds its lock for a moment
            await asyncio.sleep(0.05)
    raise AssertionError("the relay never let go of its lock")


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_a_restore_at_any_moment_then_replay_gives_the_reference_state(
    data: st.DataObject, settings: Settings, fresh_database: str, tmp_path: Path,
) -> None:
    s = settings.replace(database_url=fresh_database, replay_retention_s=600)
    await migrate(fresh_database)
    assert s.redis_url is not None
    await flush_redis(s.redis_url)
    await truncate_tables(fresh_database)
    dump = tmp_path / "example.dump"
    dump.unlink(missing_ok=True)
    server = TestServer(create_app(s))
    await server.start_server(**SERVER_OPTIONS)
    async with TestClient(server) as client:
        assert (await client.put("/v1/courses/c-1", json=CATALOG, headers=auth())).status == 200
        events = within_tail([data.draw(an_event(i)) for i in range(data.draw(st.integers(1, 40)))])
        stream = list(data.draw(st.permutations(events)))
        for ev in data.draw(st.lists(st.sampled_from(events), max_size=6)):
            stream.insert(data.draw(st.integers(0, len(stream))), ev)
        batches = []
        while stream:
            size = data.draw(st.integers(1, 8))
            batches.append(stream[:size])
            stream = stream[size:]
        cut = data.draw(st.integers(0, len(batches)))
        async with Pipeline.open(s) as pipeline:
            for i, batch in enumerate(batches):
                if i == cut:
                    await asyncio.to_thread(pg_tool, "pg_dump", "-Fc", "-f", str(dump),
                                            fresh_database)
                resp = await client.post("/v1/events", json={"events": batch}, headers=auth())
                assert resp.status == 202 and (await resp.json())["rejected"] == []
                if data.draw(st.booleans()):
                    await pipeline.flush()
            if cut == len(batches):
                await asyncio.to_thread(pg_tool, "pg_dump", "-Fc", "-f", str(dump),
                                        fresh_database)
            await pipeline.flush()
        await asyncio.to_thread(pg_tool, "pg_restore", "--clean", "--if-exists",
                                "--single-transaction", "-d", fresh_database, str(dump))
        await replay_when_the_relay_is_idle(s)
        async with Pipeline.open(s) as pipeline:  # the workers start again
            await pipeline.flush()
    await assert_reference_state(events, fresh_database)
