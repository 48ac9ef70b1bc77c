"""The live stream's fan-out: one reader of the domain-event stream per server process.

Every SSE connection used to run its own blocking ``XREAD`` over the whole stream and drop
other learners' events in Python: work of connections times events, and one Redis connection held
per open stream. Here one task per process reads the stream (``XREAD BLOCK``) and hands each
entry only to the connections of its learner, through a bounded queue per connection. A
connection that resumes (``Last-Event-ID``) first reads what it missed with ``XRANGE`` and then
takes the live entries after the last one it sent, so nothing is skipped or sent twice. A
connection too slow to keep up with its queue is ended; the browser reconnects with its
``Last-Event-ID`` and catches up from the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from redis.exceptions import RedisError

from buffer.cluster import RedisClient

log = structlog.get_logger()

Entry = tuple[str, dict[bytes, bytes]]
QUEUE_LIMIT = 1000
"""Entries waiting for one connection before it is judged too slow and ended."""
CATCH_UP_PAGE = 500


def stream_id(raw: str) -> tuple[int, int]:
    """A stream id as a pair that sorts as Redis orders ids."""
    ms, _, seq = raw.partition("-")
    return int(ms), int(seq or 0)


class TooSlow(Exception):
    """A connection let its queue fill up."""


class Subscription:
    """The entries of one learner for one connection, in stream order."""

    def __init__(self, limit: int) -> None:
        self.queue: asyncio.Queue[Entry] = asyncio.Queue(limit)
        self.overflowed = False

    def offer(self, entry: Entry) -> None:
        try:
            self.queue.put_nowait(entry)
        except asyncio.QueueFull:
            self.overflowed = True


class StreamFanout:
    """Reads ``stream`` once for the whole process and routes entries by ``user_id``."""

    def __init__(self, redis: RedisClient, stream: str, *, queue_limit: int = QUEUE_LIMIT) -> None:
        self.redis, self.stream, self.queue_limit = redis, stream, queue_limit
        self._subscribers: dict[bytes, set[Subscription]] = {}
        self.position = "$"

    @property
    def connections(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    async def run(self) -> None:
        """Read the stream until cancelled; after a Redis error (Redis away at start included),
        wait and go on from there."""
        task = asyncio.current_task()
        started = False
        while True:
            if task is not None and task.cancelling():
                # redis-py can swallow the cancellation of a blocked read and just return: the
                # reader was asked to stop, so it stops
                raise asyncio.CancelledError
            try:
                if not started:
                    self.position, started = await self.top_id(), True
                got = await self.redis.xread({self.stream: self.position}, count=500, block=1000)
            except RedisError as e:
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError from e
                log.warning("stream_read_failed", error=type(e).__name__)
                await asyncio.sleep(1.0)
                continue
            for _, entries in got or []:
                for raw_id, fields in entries:
                    self.position = raw_id.decode()
                    for sub in self._subscribers.get(fields.get(b"user_id", b""), ()):
                        sub.offer((self.position, fields))

    async def top_id(self) -> str:
        last = await self.redis.xrevrange(self.stream, count=1)
        return str(last[0][0].decode()) if last else "0-0"

    @contextlib.asynccontextmanager
    async def subscribe(self, user_id: bytes) -> AsyncIterator[Subscription]:
        sub = Subscription(self.queue_limit)
        self._subscribers.setdefault(user_id, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._subscribers[user_id]
            subs.discard(sub)
            if not subs:
                del self._subscribers[user_id]

    async def entries(
        self, user_id: bytes, after: str | None, keepalive_s: float
    ) -> AsyncIterator[Entry | None]:
        """The learner's entries after id ``after`` (None: from now), live; None when quiet."""
        async with self.subscribe(user_id) as sub:
            last = stream_id(after if after is not None else await self.top_id())
            if after is not None:
                async for entry in self._missed(user_id, after):
                    last = stream_id(entry[0])
                    yield entry
            while True:
                if sub.overflowed:
                    raise TooSlow(f"more than {self.queue_limit} entries waiting")
                try:
                    async with asyncio.timeout(keepalive_s):
                        entry = await sub.queue.get()
                except TimeoutError:
                    yield None
                    continue
                if stream_id(entry[0]) > last:
                    last = stream_id(entry[0])
                    yield entry

    async def _missed(self, user_id: bytes, after: str) -> AsyncIterator[Entry]:
        start = f"({after}"
        while True:
            page = await self.redis.xrange(self.stream, min=start, count=CATCH_UP_PAGE)
            for raw_id, fields in page:
                if fields.get(b"user_id") == user_id:
                    yield raw_id.decode(), fields
            if len(page) < CATCH_UP_PAGE:
                return
            start = f"({page[-1][0].decode()}"
