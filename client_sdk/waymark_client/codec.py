"""Encoding of events and batches, decoding of answers — all through ``waymark_client.wire``.

Encoders and decoders are built once per process (msgspec's advice); they hold no state that a
``fork()`` could corrupt.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence

import msgspec

from waymark_client.wire import Batch, BatchResult, ErrorBody, ErrorDetail, Event

from .errors import EventTooLarge, InvalidEvent
from .options import SERVER_MAX_EVENT_BYTES, WireFormat

_json_encoder = msgspec.json.Encoder()
_msgpack_encoder = msgspec.msgpack.Encoder()
_event_decoder = msgspec.json.Decoder(Event)
_result_decoder = msgspec.json.Decoder(BatchResult)
_error_decoder = msgspec.json.Decoder(ErrorBody)
_msgpack_result_decoder = msgspec.msgpack.Decoder(BatchResult)
_msgpack_error_decoder = msgspec.msgpack.Decoder(ErrorBody)

# The body of a batch besides its events: ``{"sent_at":…,"events":[…]}`` plus the commas.
ENVELOPE_BYTES = 64


def checked(event: Event) -> tuple[Event, bytes]:
    """``event`` decoded back through the wire schema (so every constraint is checked) and its
    JSON encoding, which sizes it and is what a spool stores."""
    raw = _json_encoder.encode(event)
    if len(raw) > SERVER_MAX_EVENT_BYTES:
        raise EventTooLarge(f"event is {len(raw)} bytes, the limit is {SERVER_MAX_EVENT_BYTES}")
    try:
        return _event_decoder.decode(raw), raw
    except msgspec.ValidationError as exc:
        raise InvalidEvent(str(exc)) from None


def encode_event(event: Event) -> bytes:
    """The JSON encoding of one event."""
    return _json_encoder.encode(event)


def decode_event(raw: bytes) -> Event:
    """An event back from its JSON encoding (as a spool stored it)."""
    event: Event = _event_decoder.decode(raw)
    return event


def encode_batch(
    events: Sequence[Event],
    *,
    sent_at_ms: int,
    wire_format: WireFormat,
    gzip_threshold: int | None,
) -> tuple[bytes, dict[str, str]]:
    """The request body of a batch and its content headers."""
    batch = Batch(events=list(events), sent_at=sent_at_ms)
    if wire_format == "msgpack":
        body, headers = _msgpack_encoder.encode(batch), {"Content-Type": "application/msgpack"}
    else:
        body, headers = _json_encoder.encode(batch), {"Content-Type": "application/json"}
    if gzip_threshold is not None and len(body) >= gzip_threshold:
        # Level 6 is zlib's default: most of the ratio of 9 at a fraction of the CPU.
        body = gzip.compress(body, compresslevel=6, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return body, headers


def decode_result(body: bytes, content_type: str | None) -> BatchResult:
    """The body of a 202. One that does not parse still means the batch was taken (``accepted``
    is then -1, and the counters count the whole batch as accepted)."""
    try:
        if content_type and "msgpack" in content_type:
            return _msgpack_result_decoder.decode(body)
        return _result_decoder.decode(body)
    except msgspec.DecodeError:
        return BatchResult(accepted=-1, duplicates=0, rejected=[])


def decode_error(status: int, body: bytes, content_type: str | None) -> ErrorDetail:
    """The ``error`` object of a non-2xx answer, or a stand-in built from the status."""
    try:
        if content_type and "msgpack" in content_type:
            return _msgpack_error_decoder.decode(body).error
        return _error_decoder.decode(body).error
    except msgspec.DecodeError:
        text = body[:200].decode("utf-8", "replace")
        return ErrorDetail(code=f"http_{status}", message=text or f"HTTP {status}")
