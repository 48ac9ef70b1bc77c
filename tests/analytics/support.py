"""A random arrival of events through the real pipeline, for the analytics property tests."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import strategies as st

from tests.helpers import auth
from tests.pipeline import Pipeline


async def send_in_any_order(
    data: st.DataObject, client: TestClient, pipeline: Pipeline, events: list[dict[str, Any]],
    max_batch: int = 8, resends: int = 6,
) -> None:
    """``events`` permuted, some sent again, in random batches flushed at random points."""
    stream = list(data.draw(st.permutations(events)))
    for ev in data.draw(st.lists(st.sampled_from(events), max_size=resends)):
        stream.insert(data.draw(st.integers(0, len(stream))), ev)
    i = 0
    while i < len(stream):
        size = data.draw(st.integers(1, max_batch))
        resp = await client.post("/v1/events", json={"events": stream[i:i + size]},
                                 headers=auth())
        body = await resp.json()
        assert resp.status == 202 and body["rejected"] == [], body
        i += size
        if data.draw(st.booleans()):
            await pipeline.flush()
    await pipeline.flush()
