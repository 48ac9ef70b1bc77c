"""Per-user tokens: HS256 JWTs signed by the platform's backend, verified here.

Only what Waymark needs of RFC 7519, with the standard library: the algorithm is pinned to
HS256 (a header naming anything else, or none, is refused before any key is used), the
signature is checked in constant time against each configured secret (two during a rollover)
before the payload is read, ``exp`` is required, ``nbf`` / ``iat`` are honoured with a small
leeway, ``aud`` must name this service when an audience is configured (and a token carrying an
``aud`` is refused when none is), and the user is ``sub``, which must be a valid id. A token
never reaches a log line or an error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from typing import Any

import msgspec

from ingest.errors import Unauthorized
from waymark_client.wire import ID_PATTERN

LEEWAY_S = 30
"""Clock difference tolerated between the platform's backend and this server."""
MAX_TOKEN_CHARS = 4096
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")
_ID = re.compile(ID_PATTERN)
_decode_json = msgspec.json.Decoder(dict[str, Any]).decode


def looks_like_jwt(value: str) -> bool:
    """Three non-empty base64url segments: the compact JWS shape."""
    parts = value.split(".")
    return (
        len(parts) == 3
        and len(value) <= MAX_TOKEN_CHARS
        and all(_SEGMENT.match(p) for p in parts)
    )


def _b64decode(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise _invalid("token is not base64url") from None


def _invalid(message: str) -> Unauthorized:
    return Unauthorized(message, code="invalid_token")


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        return _decode_json(_b64decode(segment))
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        raise _invalid(f"token {what} is not a JSON object") from None


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"token claim {name!r} must be a number of seconds")
    return float(value)


class TokenVerifier:
    """Verifies a user token and returns its user id."""

    def __init__(
        self,
        secrets: tuple[str, ...],
        *,
        audience: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = tuple(s.encode() for s in secrets)
        self._audience = audience
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def __repr__(self) -> str:
        return f"TokenVerifier(secrets=***, audience={self._audience!r})"

    def user_of(self, token: str) -> str:
        """The ``sub`` of a valid token; any failure is a 401 ``invalid_token``."""
        if not self._keys or not looks_like_jwt(token):
            raise _invalid("not a valid API key or user token")
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = _json_object(header_b64, "header")
        if header.get("alg") != "HS256":
            raise _invalid("token algorithm must be HS256")
        if header.get("typ", "JWT") not in ("JWT", "jwt") or "crit" in header:
            raise _invalid("token header is not supported")
        signing_input = f"{header_b64}.{payload_b64}".encode()
        signature = _b64decode(signature_b64)
        valid = False
        for key in self._keys:  # every secret is tried: the time taken says nothing of which
            expected = hmac.new(key, signing_input, hashlib.sha256).digest()
            valid |= hmac.compare_digest(expected, signature)
        if not valid:
            raise _invalid("token signature does not verify")
        return self._check_claims(_json_object(payload_b64, "payload"))

    def _check_claims(self, claims: dict[str, Any]) -> str:
        now = self._clock()
        exp = _number(claims, "exp")
        if exp is None:
            raise _invalid("token has no 'exp' claim")
        if now > exp + LEEWAY_S:
            raise _invalid("token has expired")
        for name in ("nbf", "iat"):
            t = _number(claims, name)
            if t is not None and t > now + LEEWAY_S:
                raise _invalid(f"token is not valid yet ({name!r} is in the future)")
        aud = claims.get("aud")
        if aud is not None or self._audience is not None:
            names = aud if isinstance(aud, list) else [aud]
            if self._audience is None or self._audience not in names:
                raise _invalid("token audience is not this service")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not _ID.match(sub):
            raise _invalid("token 'sub' must be a user id")
        return sub
