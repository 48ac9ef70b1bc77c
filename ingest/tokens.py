"""Per-user tokens: JWTs signed by the platform's backend, verified here with PyJWT.

Two ways to sign, each with its algorithm pinned: HS256 with a shared secret
(``WAYMARK_USER_TOKEN_SECRET``, two during a rollover), or RS256 / EdDSA with the platform's
private key, whose public keys this server reads from a JWKS file
(``WAYMARK_USER_TOKEN_JWKS``), the key chosen by the token's ``kid``. The header's ``alg``
decides which key set is used before any key is touched: an HS256 token is only ever checked
against the secrets (so a public key can never serve as an HMAC secret), an RS256 / EdDSA token
only against the JWKS key of its ``kid`` whose algorithm is that one; ``none`` and every other
algorithm are refused. PyJWT checks the signature (in constant time for HMAC) and that ``exp``
is present and ``aud`` names this service when an audience is configured (a token carrying an
``aud`` is refused when none is); the time window (``exp``, ``nbf``, ``iat`` with a small
leeway) is checked here against an injectable clock, and the user is ``sub``, a valid id. A
token never reaches a log line or an error message.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt

from ingest.errors import Unauthorized
from waymark.settings import SettingsError
from waymark_client.wire import ID_PATTERN

LEEWAY_S = 30
"""Clock difference tolerated between the platform's backend and this server."""
MAX_TOKEN_CHARS = 4096
HMAC_ALGORITHM = "HS256"
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "EdDSA"})
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")
_ID = re.compile(ID_PATTERN)
_JWT = jwt.PyJWT()
_OPTIONS: dict[str, Any] = {
    "require": ["exp"],
    # the time window is checked by ``TokenVerifier._check_time`` with the verifier's clock
    "verify_exp": False, "verify_nbf": False, "verify_iat": False,
}
BAD_SIGNATURE = "token signature does not verify"
_FAILURES: tuple[tuple[type[Exception], str], ...] = (
    (jwt.InvalidSignatureError, BAD_SIGNATURE),
    (jwt.exceptions.InvalidSubjectError, "token 'sub' must be a user id"),
    (jwt.InvalidAudienceError, "token audience is not this service"),
    (jwt.InvalidAlgorithmError, "token algorithm is not allowed for its key"),
)


def looks_like_jwt(value: str) -> bool:
    """Three non-empty base64url segments: the compact JWS shape."""
    parts = value.split(".")
    return (
        len(parts) == 3
        and len(value) <= MAX_TOKEN_CHARS
        and all(_SEGMENT.match(p) for p in parts)
    )


def _invalid(message: str) -> Unauthorized:
    return Unauthorized(message, code="invalid_token")


def load_jwks(path: Path) -> dict[str, jwt.PyJWK]:
    """The RS256 / EdDSA public keys of a JWKS file, by ``kid``; a clear error otherwise."""
    what = f"WAYMARK_USER_TOKEN_JWKS ({path})"
    try:
        keys = json.loads(path.read_text())["keys"]
        found = {k["kid"]: jwt.PyJWK(k) for k in keys if k.get("use", "sig") == "sig"}
    except OSError as e:
        raise SettingsError(f"{what} cannot be read: {e.strerror}") from None
    except (ValueError, KeyError, TypeError, AttributeError, jwt.PyJWTError):
        raise SettingsError(f"{what} must be a JWKS whose keys each have a 'kid'") from None
    if not found or any(k.algorithm_name not in ASYMMETRIC_ALGORITHMS for k in found.values()):
        raise SettingsError(f"{what} must hold RS256 or EdDSA public keys")
    if any(getattr(k.key, "private_bytes", None) for k in found.values()):
        raise SettingsError(f"{what} holds a private key: give only the public keys")
    return found


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
        public_keys: dict[str, jwt.PyJWK] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = tuple(s.encode() for s in secrets)
        self._public = dict(public_keys or {})
        self._audience = audience
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return bool(self._secrets or self._public)

    def __repr__(self) -> str:
        return (f"TokenVerifier(secrets=***, public_keys={sorted(self._public)}, "
                f"audience={self._audience!r})")

    def user_of(self, token: str) -> str:
        """The ``sub`` of a valid token; any failure is a 401 ``invalid_token``."""
        if not self.enabled or not looks_like_jwt(token):
            raise _invalid("not a valid API key or user token")
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, RecursionError):
            raise _invalid("token header is not supported") from None
        alg, kid = header.get("alg"), header.get("kid")
        if header.get("typ", "JWT") not in ("JWT", "jwt") or "crit" in header:
            raise _invalid("token header is not supported")
        if not isinstance(alg, str):
            raise _invalid("token algorithm is not accepted")
        if alg == HMAC_ALGORITHM and self._secrets:
            claims = self._verify_hmac(token)
        elif alg in ASYMMETRIC_ALGORITHMS and self._public:
            key = self._public.get(kid) if isinstance(kid, str) else None
            if key is None or key.algorithm_name != alg:
                raise _invalid("token 'kid' names no configured key for its algorithm")
            claims = self._decode(token, key, alg)
        else:
            raise _invalid("token algorithm is not accepted")
        return self._check_claims(claims)

    def _verify_hmac(self, token: str) -> dict[str, Any]:
        """Every secret is tried: the time taken says nothing of which one signed."""
        result: dict[str, Any] | Unauthorized = _invalid(BAD_SIGNATURE)
        for secret in self._secrets:
            try:
                result = self._decode(token, secret, HMAC_ALGORITHM)
            except Unauthorized as e:
                if e.message != BAD_SIGNATURE:  # this secret signed it; its claims failed
                    result = e
        if isinstance(result, Unauthorized):
            raise result
        return result

    def _decode(self, token: str, key: bytes | jwt.PyJWK, alg: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = _JWT.decode(
                token, key, algorithms=[alg], audience=self._audience, options=_OPTIONS  # type: ignore[arg-type]
            )
        except RecursionError:
            raise _invalid("token payload is not a JSON object") from None
        except jwt.MissingRequiredClaimError as e:
            if e.claim == "aud":
                raise _invalid("token audience is not this service") from None
            raise _invalid(f"token has no {e.claim!r} claim") from None
        except jwt.PyJWTError as e:
            message = next((m for kind, m in _FAILURES if isinstance(e, kind)), None)
            raise _invalid(message or "token is malformed") from None
        return claims

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
        sub = claims.get("sub")
        if not isinstance(sub, str) or not _ID.match(sub):
            raise _invalid("token 'sub' must be a user id")
        return sub
