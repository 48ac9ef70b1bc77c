"""Mint per-user tokens on the platform's backend: JWTs signed with PyJWT.

The browser or mobile app gets a token for its signed-in user and sends it as
``Authorization: Bearer <token>``; Waymark lets it write and read that user's progress only.
Sign with the shared secret (HS256, ``WAYMARK_USER_TOKEN_SECRET`` on the server) or with the
platform's private key (RS256 / EdDSA, PEM; the server holds the public key in the JWKS of
``WAYMARK_USER_TOKEN_JWKS`` under the same ``kid``; needs ``pip install waymark-client[crypto]``).
The secret or private key stays on the backend.
"""

from __future__ import annotations

import time
from typing import Any

import jwt

DEFAULT_TTL_S = 900
ALGORITHMS = ("HS256", "RS256", "EdDSA")


def mint_user_token(
    secret: str | bytes,
    user_id: str,
    *,
    ttl_s: int = DEFAULT_TTL_S,
    audience: str | None = None,
    now: float | None = None,
    extra_claims: dict[str, Any] | None = None,
    algorithm: str = "HS256",
    kid: str | None = None,
) -> str:
    """A token for ``user_id`` valid ``ttl_s`` seconds (short: a browser can leak it).

    ``secret`` is the HS256 secret, or for RS256 / EdDSA the PEM private key, and ``kid`` the
    id of its public key in the server's JWKS.
    """
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}")
    if algorithm != "HS256" and not kid:
        raise ValueError("a token signed with a private key names its public key: pass kid")
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {**(extra_claims or {}), "sub": user_id, "iat": issued,
                              "exp": issued + ttl_s}
    if audience is not None:
        claims["aud"] = audience
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims, secret, algorithm=algorithm, headers=headers)
