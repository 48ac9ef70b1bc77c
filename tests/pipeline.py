"""Drive the worker side of the pipeline from a test: the real flush job, on demand."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from arq.connections import RedisSettings, create_pool

from buffer.merge_buffer import MergeBuffer
from waymark.settings import Settings
from workers.context import CONFIG, WorkerConfig, WorkerState, state
from workers.main import flush_shard, shutdown, startup
from workers.metrics import WorkerMetrics


class Pipeline:
    """The worker's resources and jobs, run in the test's event loop."""

    def __init__(self, ctx: dict[str, Any]) -> None:
        self.ctx = ctx

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator[Pipeline]:
        assert settings.redis_url is not None
        ctx: dict[str, Any] = {CONFIG: WorkerConfig(settings, WorkerMetrics.create())}
        ctx["redis"] = await create_pool(RedisSettings.from_dsn(settings.queue_url))
        await startup(ctx)
        state(ctx).background[0].cancel()  # the scheduler: tests flush explicitly
        try:
            yield cls(ctx)
        finally:
            await shutdown(ctx)
            await ctx["redis"].aclose()

    @property
    def state(self) -> WorkerState:
        return state(self.ctx)

    @property
    def buffer(self) -> MergeBuffer:
        return self.state.buffer

    async def flush(self) -> int:
        """Apply everything due, shard by shard, until no shard has work."""
        total = 0
        while shards := await self.buffer.shards_with_work():
            for shard in shards:
                total += await flush_shard(self.ctx, shard)
        return total
