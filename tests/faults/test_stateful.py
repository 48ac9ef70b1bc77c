"""A state machine of sends, replays, worker crashes and drains that keep the merge rules exact.

Rules send random batches (duplicates included), replay earlier batches, drain a batch and
"crash" before applying it, apply a batch and "crash" before acknowledging it, and flush. At the
end everything is flushed and PostgreSQL must equal the reference model over every event sent.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import msgspec
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from redis.asyncio import Redis

from aggregator.apply import apply_batch
from buffer.merge_buffer import MergeBuffer
from ingest.prepare import decode_events, prepare
from tests.reference import chapter_state
from tests.servers import truncate_tables
from waymark_client.wire import RawBatch
from workers.flush import BatchFlusher

NOW = 1_790_000_000_000  # fixed "now" so prepared events never age out of range
USERS, CHAPTERS = ["u-1", "u-2"], ["ch-1", "ch-2"]


class PipelineMachine(RuleBasedStateMachine):
    redis_url = ""
    database_url = ""
    kinds = ["chapter_progress"] * 3 + ["chapter_completed", "chapter_uncompleted", "course_reset"]
    users, chapters, per_send = USERS, CHAPTERS, 4

    @initialize()
    def start(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.run(self._start())
        self.sent: list[list[dict[str, Any]]] = []
        self.n = 0

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def _start(self) -> None:
        self.redis = Redis.from_url(self.redis_url)
        await self.redis.flushall()
        await truncate_tables(self.database_url)
        self.pool = await asyncpg.create_pool(self.database_url, min_size=1, max_size=2)
        self.buffer = MergeBuffer(self.redis, shards=2, merge_window_ms=0, dedup_window_s=3600,
                                  lease_s=30)
        self.flusher = BatchFlusher(self.buffer, self.pool, max_tries=3,
                                    stopping=asyncio.Event())

    async def _send(self, events: list[dict[str, Any]]) -> None:
        raw = msgspec.json.decode(msgspec.json.encode({"events": events}), type=RawBatch)
        decoded, bad = decode_events("json", raw.events, 32 * 1024)
        assert not bad
        prepared = prepare(decoded, now_ms=NOW, skew_ms=0, rules={},
                           shard_of=self.buffer.shard_of)
        assert not prepared.rejected
        await self.buffer.write(prepared.writes)

    @rule(data=st.data())
    def send(self, data: st.DataObject) -> None:
        events = []
        for _ in range(data.draw(st.integers(1, self.per_send))):
            kind = data.draw(st.sampled_from(self.kinds))
            ev: dict[str, Any] = {"id": f"e{self.n:04d}", "type": kind,
                                  "user_id": data.draw(st.sampled_from(self.users)),
                                  "course_id": "c-1", "ts": NOW - 60_000 + self.n * 7 % 50}
            self.n += 1
            if kind != "course_reset":
                ev["chapter_id"] = data.draw(st.sampled_from(self.chapters))
            if kind == "chapter_progress":
                ev["progress"] = float(data.draw(st.integers(0, 100)))
            if kind in ("chapter_progress", "chapter_completed"):
                ev["time_spent_s"] = data.draw(st.sampled_from([0, 1, 2.5]))
            events.append(ev)
        self.sent.append(events)
        self.run(self._send(events))

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        self.run(self._send(data.draw(st.sampled_from(self.sent))))

    @precondition(lambda self: bool(self.sent))
    @rule(shard=st.integers(0, 1))
    def crash_before_apply(self, shard: int) -> None:
        async def go() -> None:
            batch = await self.buffer.drain(shard, 5)
            if batch is not None:
                await self.buffer.release(batch)  # its lease "expires"
        self.run(go())

    @precondition(lambda self: bool(self.sent))
    @rule(shard=st.integers(0, 1))
    def crash_after_commit(self, shard: int) -> None:
        async def go() -> None:
            batch = await self.buffer.drain(shard, 5)
            if batch is not None:
                async with self.pool.acquire() as conn:
                    await apply_batch(conn, batch)  # committed, never acknowledged
                await self.buffer.release(batch)
        self.run(go())

    @rule()
    def flush(self) -> None:
        self.run(self._flush())

    async def _flush(self) -> None:
        for shard in range(2):
            while batch := (await self.buffer.reclaim(shard)
                            or await self.buffer.drain(shard, 1000)):
                await self.flusher.flush(batch)

    @invariant()
    def nothing_is_dead_lettered(self) -> None:
        if hasattr(self, "buffer"):
            assert self.run(self.buffer.dead_letter_count()) == 0

    def teardown(self) -> None:
        if not hasattr(self, "loop"):
            return
        try:
            self.run(self._flush())
            self.run(self._check())
        finally:
            self.run(self.pool.close())
            self.run(self.redis.aclose())
            self.loop.close()

    async def _check(self) -> None:
        events = [e for batch in self.sent for e in batch]
        async with self.pool.acquire() as conn:
            rows = {(r["user_id"], r["chapter_id"]): r for r in await conn.fetch(
                "SELECT user_id, chapter_id, progress, completed, time_spent_ms"
                " FROM chapter_progress")}
        for user in self.users:
            for ch in self.chapters:
                ref = chapter_state(events, user, "c-1", ch)
                row = rows.get((user, ch))
                got = (row["progress"], row["completed"], row["time_spent_ms"]) if row else (
                    0.0, False, 0)
                assert got == (ref.progress, ref.completed, ref.time_ms), (user, ch)


class LongHistoryMachine(PipelineMachine):
    """One chapter, many events: its state folds past the tail, where only the ledger keeps a
    re-applied batch from adding its time twice (within the tail, merging is idempotent too)."""

    kinds = ["chapter_progress"] * 4 + ["chapter_completed"]
    users, chapters, per_send = ["u-1"], ["ch-1"], 12


def run_machine(machine: type[PipelineMachine], redis_url: str, database_url: str) -> None:
    machine.redis_url, machine.database_url = redis_url, database_url
    case = machine.TestCase
    case.settings = settings(max_examples=30, stateful_step_count=15, deadline=None,
                             suppress_health_check=list(HealthCheck))
    case().runTest()


def test_sends_replays_crashes_and_drains_keep_the_state_exact(
    redis_url: str, database_url: str
) -> None:
    run_machine(PipelineMachine, redis_url, database_url)


def test_a_long_history_never_counts_a_reapplied_batch_twice(
    redis_url: str, database_url: str
) -> None:
    run_machine(LongHistoryMachine, redis_url, database_url)
