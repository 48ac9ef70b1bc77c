"""The ingest service with its per-batch figures: decoded size, rejects by code, clock skew.

A subclass, so ``IngestService`` stays about taking events; these figures only read what it
was given and what it answered. The skew is read back with a decoder that knows only
``sent_at`` (msgspec skips the events without building them), after the batch was taken.
"""

from __future__ import annotations

import time

import msgspec

from ingest.service import IngestService
from waymark_client.wire import BatchResult, Timestamp, to_epoch_ms


class _SentAt(msgspec.Struct):
    sent_at: Timestamp | None = None


_json_sent_at = msgspec.json.Decoder(_SentAt).decode
_msgpack_sent_at = msgspec.msgpack.Decoder(_SentAt).decode


def sent_at_ms(fmt: str, body: bytes) -> int | None:
    """The batch's ``sent_at`` in epoch ms, or ``None``."""
    try:
        doc = _json_sent_at(body) if fmt == "json" else _msgpack_sent_at(body)
    except msgspec.MsgspecError:
        return None
    return None if doc.sent_at is None else to_epoch_ms(doc.sent_at)


class MeteredIngestService(IngestService):
    async def ingest(self, fmt: str, body: bytes) -> BatchResult:
        received_ms = time.time() * 1000
        m = self.metrics
        m.payload_bytes.labels("decoded").observe(len(body))
        result = await super().ingest(fmt, body)
        for rejection in result.rejected:
            m.rejected.labels(rejection.code).inc()
        sent = sent_at_ms(fmt, body)
        if sent is not None:
            m.clock_skew.observe((received_ms - sent) / 1000)
        return result
