"""Reading a request body within the limits: content type, gzip (bounded), envelope decode."""

from __future__ import annotations

import asyncio
import zlib
from typing import TypeVar

import msgspec
from aiohttp import web

from ingest.errors import BadRequest, RequestTimeout, TooLarge, UnsupportedMedia

JSON = "application/json"
MSGPACK = frozenset({"application/msgpack", "application/x-msgpack", "application/vnd.msgpack"})
_CHUNK = 64 * 1024
T = TypeVar("T")


def body_format(request: web.Request) -> str:
    """``json`` or ``msgpack`` from Content-Type; anything else is a 415."""
    ctype = request.content_type
    if ctype == JSON:
        return "json"
    if ctype in MSGPACK:
        return "msgpack"
    raise UnsupportedMedia(
        f"Content-Type {ctype!r} is not supported; use application/json or application/msgpack",
        code="unsupported_content_type",
    )


async def read_body(request: web.Request, limit: int, timeout_s: float = 30.0) -> bytes:
    """The body, decompressed, never more than ``limit`` bytes held in memory.

    The whole body must arrive within ``timeout_s``: a client that trickles it (slow loris)
    gets a 408 instead of holding a connection and a buffer open.
    """
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", ""):
        raise UnsupportedMedia(
            f"Content-Encoding {encoding!r} is not supported; use gzip or none",
            code="unsupported_content_encoding",
        )
    if request.content_length is not None and encoding != "gzip" and request.content_length > limit:
        raise TooLarge(f"body exceeds {limit} bytes")
    raw = bytearray()
    try:
        async with asyncio.timeout(timeout_s):
            while chunk := await request.content.read(_CHUNK):
                raw += chunk
                if len(raw) > limit:
                    raise TooLarge(f"body exceeds {limit} bytes")
    except TimeoutError:
        raise RequestTimeout(f"the body did not arrive within {timeout_s:g} s") from None
    if encoding != "gzip":
        return bytes(raw)
    return gunzip_bounded(bytes(raw), limit)


def gunzip_bounded(data: bytes, limit: int) -> bytes:
    """Inflate at most ``limit + 1`` bytes: a gzip bomb is cut off, never inflated whole."""
    d = zlib.decompressobj(wbits=31)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as e:
        raise BadRequest(f"body is not valid gzip: {e}", code="invalid_gzip") from None
    if len(out) > limit or d.unconsumed_tail:
        raise TooLarge(f"decompressed body exceeds {limit} bytes")
    if not d.eof:
        raise BadRequest("gzip stream is truncated", code="invalid_gzip")
    return out


def decode_as(fmt: str, body: bytes, typ: type[T]) -> T:
    """Decode ``body`` as ``typ``; any failure is a 400 with msgspec's message."""
    try:
        if fmt == "json":
            return msgspec.json.decode(body, type=typ)
        return msgspec.msgpack.decode(body, type=typ)
    except msgspec.ValidationError as e:
        raise BadRequest(f"not a valid batch: {e}") from None
    except msgspec.DecodeError as e:
        raise BadRequest(f"body is not valid {fmt}: {e}", code="malformed_body") from None
    except RecursionError:
        raise BadRequest("body is nested too deeply", code="malformed_body") from None
