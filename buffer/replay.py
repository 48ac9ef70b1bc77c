"""The batches the workers applied recently, kept per shard for ``waymark replay``.

``ack.lua`` appends every acknowledged batch to its shard's stream ``wm:{wm.N}:replay`` (field
``b``: the batch id, then keyid → entry, as drained) and trims it to
``WAYMARK_REPLAY_RETENTION_S``. Within a shard the stream is in the order the batches were
applied, and the stream ids (acknowledgement time in ms) order the shards among themselves.
"""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator
from dataclasses import dataclass

from buffer.cluster import RedisClient
from buffer.keys import shard_key
from buffer.merge_buffer import DrainedBatch

PAGE = 200


@dataclass(frozen=True, slots=True)
class RetainedBatch:
    stream_id: tuple[int, int]
    """(ms, seq) of the stream entry: when the batch was acknowledged."""
    batch: DrainedBatch


def parse_entry(shard: int, entry_id: bytes, fields: dict[bytes, bytes]) -> RetainedBatch:
    """One stream entry as the batch it retains (its keys in the order they were drained)."""
    ms, seq = entry_id.decode().split("-")
    items = list(fields.items())
    assert items and items[0][0] == b"b", "a replay entry starts with its batch id"
    entries = [(k.decode(), v) for k, v in items[1:]]
    return RetainedBatch((int(ms), int(seq)), DrainedBatch(shard, items[0][1].decode(), entries))


async def shard_batches(redis: RedisClient, shard: int) -> AsyncIterator[RetainedBatch]:
    """The retained batches of ``shard``, oldest first."""
    key, start = shard_key(shard, "replay"), "-"
    while True:
        page = await redis.xrange(key, min=start, count=PAGE)
        for entry_id, fields in page:
            yield parse_entry(shard, entry_id, fields)
        if len(page) < PAGE:
            return
        start = "(" + page[-1][0].decode()


async def retained(redis: RedisClient, shards: int) -> AsyncIterator[RetainedBatch]:
    """Every retained batch of every shard, in the order they were applied (a merge of the
    shards' streams, one page of each in memory)."""
    streams = [shard_batches(redis, shard) for shard in range(shards)]
    heads: list[tuple[tuple[int, int], int, RetainedBatch]] = []
    for i, stream in enumerate(streams):
        first = await anext(stream, None)
        if first is not None:
            heapq.heappush(heads, (first.stream_id, i, first))
    while heads:
        _, i, batch = heapq.heappop(heads)
        yield batch
        following = await anext(streams[i], None)
        if following is not None:
            heapq.heappush(heads, (following.stream_id, i, following))
