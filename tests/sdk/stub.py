"""A small fault-injecting ingest stub: a real aiohttp server on 127.0.0.1, in its own thread.

It speaks the ``POST /v1/events`` contract (JSON or msgpack, optional gzip), keeps every event
it took (duplicates included, so tests can count copies), and answers from a script of planned
faults before falling back to 202.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web


@dataclass(frozen=True)
class Fault:
    """One planned answer that takes nothing."""

    status: int
    retry_after: str | None = None
    code: str = "planned_fault"


@dataclass
class Seen:
    """One request as the stub saw it."""

    status: int
    events: list[dict[str, Any]]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)


class StubServer:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.requests: list[Seen] = []
        self.faults: deque[Fault] = deque()
        self.always: Fault | None = None
        self.reject_ids: set[str] = set()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> StubServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(5)
        return self

    async def _start(self) -> None:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/v1/events", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    # -- inspection --------------------------------------------------------------------------

    def ids(self) -> list[str]:
        with self._lock:
            return [e["id"] for e in self.received]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Every event taken once ``count`` have arrived (or what arrived by the timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.01)
        with self._lock:
            return list(self.received)

    def statuses(self) -> list[int]:
        with self._lock:
            return [r.status for r in self.requests]

    # -- the endpoint ------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        # aiohttp inflates a gzip body itself on recent versions; older ones hand it over as is.
        if request.headers.get("Content-Encoding") == "gzip" and body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        if request.content_type == "application/msgpack":
            batch = msgspec.msgpack.decode(body)
        else:
            batch = msgspec.json.decode(body)
        events: list[dict[str, Any]] = batch["events"]
        headers = dict(request.headers)
        with self._lock:
            fault = self.faults.popleft() if self.faults else self.always
            if fault is not None:
                self.requests.append(Seen(fault.status, events, headers))
                extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                error = {"error": {"code": fault.code, "message": "planned by the test"}}
                return web.json_response(error, status=fault.status, headers=extra)
            self.requests.append(Seen(202, events, headers))
            seen = {e["id"] for e in self.received}
            rejected = [
                {"index": i, "code": "planned_reject", "message": "planned by the test"}
                for i, e in enumerate(events)
                if e["id"] in self.reject_ids
            ]
            duplicates = sum(1 for e in events if e["id"] in seen)
            self.received.extend(e for e in events if e["id"] not in self.reject_ids)
        result = {
            "accepted": len(events) - duplicates - len(rejected),
            "duplicates": duplicates,
            "rejected": rejected,
        }
        return web.json_response(result, status=202)
