"""A tiny consumer of Waymark's domain events: a consumer group on ``waymark:events``.

    .venv/bin/python -m aggregator.examples.consume_events redis://127.0.0.1:6379/0

Each entry is acknowledged after it was handled, so a restarted consumer continues where it
stopped; ``event_id`` lets a handler that is not idempotent skip a redelivery.
"""

from __future__ import annotations

import asyncio
import json
import sys

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from aggregator.events import EVENTS_STREAM

GROUP = "example"


async def consume(url: str, consumer: str = "c1") -> None:
    redis = Redis.from_url(url, decode_responses=True)
    try:
        await redis.xgroup_create(EVENTS_STREAM, GROUP, id="0", mkstream=True)
    except ResponseError as e:  # the group exists already: keep its position
        if "BUSYGROUP" not in str(e):
            raise
    while True:
        got = await redis.xreadgroup(GROUP, consumer, {EVENTS_STREAM: ">"}, count=100, block=5000)
        for _, entries in got or []:
            for entry_id, fields in entries:
                data = json.loads(fields["data"])
                print(f"{fields['occurred_at']} {fields['user_id']} {fields['course_id']}"
                      f" {fields['type']} {data}")
                await redis.xack(EVENTS_STREAM, GROUP, entry_id)


if __name__ == "__main__":
    asyncio.run(consume(sys.argv[1] if len(sys.argv) > 1 else "redis://127.0.0.1:6379/0"))
