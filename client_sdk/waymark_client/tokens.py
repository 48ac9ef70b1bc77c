"""Mint per-user tokens on the platform's backend: HS256 JWTs, standard library only.

The browser or mobile app gets a token for its signed-in user and sends it as
``Authorization: Bearer <token>``; Waymark lets it write and read that user's progress only.
The secret (``WAYMARK_USER_TOKEN_SECRET`` on the server) stays on the backend.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

DEFAULT_TTL_S = 900


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_user_token(
    secret: str | bytes,
    user_id: str,
    *,
    ttl_s: int = DEFAULT_TTL_S,
    audience: str | None = None,
    now: float | None = None,
    extra_claims: dict[str, Any] | None = None,
) -> str:
    """A token for ``user_id`` valid ``ttl_s`` seconds (short: a browser can leak it)."""
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    key = secret.encode() if isinstance(secret, str) else secret
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {**(extra_claims or {}), "sub": user_id, "iat": issued,
                              "exp": issued + ttl_s}
    if audience is not None:
        claims["aud"] = audience
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = _b64(hmac.new(key, signing_input, hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"
