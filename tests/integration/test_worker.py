"""The arq worker as it runs in production: scheduler, flush jobs, merge window."""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiohttp.test_utils import TestClient, TestServer

from ingest.app import SERVER_OPTIONS, create_app
from tests.helpers import event
from tests.integration.test_pipeline import chapter, post, progress
from waymark.settings import Settings
from workers.context import WorkerConfig
from workers.main import create_worker
from workers.metrics import WorkerMetrics


async def wait_for_progress(client: TestClient, deadline_s: float) -> float:
    """Seconds until the read API shows chapter ch-1 of u-1 in c-1."""
    start = time.monotonic()
    while time.monotonic() - start < deadline_s:
        resp = await client.get("/v1/users/u-1/courses/c-1",
                                headers={"Authorization": "Bearer test-admin-secret"})
        if resp.status == 200 and (await resp.json())["other_chapters"]:
            return time.monotonic() - start
        await asyncio.sleep(0.05)
    raise AssertionError("progress never became visible")


async def test_the_worker_flushes_after_the_merge_window(settings: Settings) -> None:
    windowed = settings.replace(merge_window_ms=500)
    worker = create_worker(WorkerConfig(windowed, WorkerMetrics.create()))
    task = asyncio.create_task(worker.async_run())
    server = TestServer(create_app(windowed))
    await server.start_server(**SERVER_OPTIONS)
    client = TestClient(server)
    await client.start_server()
    try:
        await post(client, [event("chapter_progress", chapter_id="ch-1", progress=50,
                                  time_spent_s=7)])
        waited = await wait_for_progress(client, 10)
        assert waited >= 0.4  # not before the merge window (ingest stamps the due time)
        ch = chapter(await progress(client), "ch-1")
        assert (ch["progress"], ch["time_spent_s"]) == (50, 7)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await worker.close()
        await client.close()
