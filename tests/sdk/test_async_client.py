"""AsyncProgressClient: the same pipeline driven from an event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from waymark_client import AsyncProgressClient, BatchRefused, ClientClosed, WaymarkClientError
from waymark_client.wire import Event

from .stub import Fault, StubServer
from .test_processes import finish, python

Errors = list[tuple[WaymarkClientError, Sequence[Event]]]


def client(url: str, errors: Errors | None = None, **opts: object) -> AsyncProgressClient:
    sink = errors if errors is not None else []
    opts.setdefault("flush_interval", 60.0)
    return AsyncProgressClient(
        "secret",
        base_url=url,
        on_error=lambda e, evs: sink.append((e, evs)),
        **opts,  # type: ignore[arg-type]
    )


async def test_a_batch_goes_out_at_flush_at_events(stub: StubServer) -> None:
    async with client(stub.url, flush_at=5) as c:
        ids = [await c.viewed(f"u{n}", "c") for n in range(5)]
        assert await c.flush(5.0)
    assert stub.ids() == ids and len(stub.requests) == 1


async def test_a_lone_event_goes_out_after_flush_interval(stub: StubServer) -> None:
    async with client(stub.url, flush_interval=0.1) as c:
        await c.reset("u", "c")
        for _ in range(100):
            if stub.ids():
                break
            await asyncio.sleep(0.02)
        assert len(stub.ids()) == 1


async def test_503_and_429_are_retried_and_leave_one_copy(stub: StubServer) -> None:
    stub.faults.extend([Fault(503, "0.1"), Fault(429, "0.1")])
    async with client(stub.url, backoff_base=0.05) as c:
        ids = {await c.viewed(f"u{n}", "c") for n in range(20)}
        assert await c.flush(5.0)
    assert stub.statuses() == [503, 429, 202]
    assert sorted(stub.ids()) == sorted(ids)


async def test_a_400_is_never_retried(stub: StubServer) -> None:
    stub.always = Fault(400)
    errors: Errors = []
    async with client(stub.url, errors) as c:
        await c.viewed("u", "c")
        assert await c.flush(5.0)
    assert stub.statuses() == [400]
    assert [type(e) for e, _ in errors] == [BatchRefused]


async def test_progress_is_merged_as_in_the_sync_client(stub: StubServer) -> None:
    async with client(stub.url) as c:
        await c.progress("u", "c", "ch", 10, time_spent_s=4)
        await c.progress("u", "c", "ch", 40, time_spent_s=4)
    [event] = stub.received
    assert (event["progress"], event["time_spent_s"]) == (40.0, 8.0)


async def test_flush_returns_on_time_with_the_server_down(dead_url: str) -> None:
    errors: Errors = []
    c = client(dead_url, errors, backoff_base=0.05, backoff_max=0.1)
    await c.viewed("u", "c")
    started = time.monotonic()
    assert await c.flush(0.4) is False
    assert 0.4 <= time.monotonic() - started < 1.5
    await c.close(timeout=0.3)
    assert [type(e) for e, _ in errors] == [ClientClosed]


async def test_a_full_queue_drops_and_counts(dead_url: str) -> None:
    c = client(dead_url, max_queue_size=3)
    for n in range(5):
        await c.viewed(f"u{n}", "c")
    assert c.stats().dropped == 2
    await c.close(timeout=0.2)


async def test_on_full_block_waits_for_room_while_the_server_keeps_up(stub: StubServer) -> None:
    async with client(stub.url, max_queue_size=4, flush_at=4, on_full="block") as c:
        for n in range(40):
            await c.viewed(f"u{n}", "c")
    assert len(set(stub.ids())) == 40


def test_events_left_when_the_loop_ends_are_sent_at_exit(stub: StubServer) -> None:
    out = finish(
        python(f"""
        import asyncio
        from waymark_client import AsyncProgressClient
        client = AsyncProgressClient("k", base_url="{stub.url}", flush_interval=60)
        async def main():
            for n in range(3):
                print(await client.viewed(f"u{{n}}", "c"))
        asyncio.run(main())
    """)
    )
    assert sorted(stub.ids()) == sorted(out)
