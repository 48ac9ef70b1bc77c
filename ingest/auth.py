"""Authentication and authorisation: API keys with scopes, and per-user tokens.

``Authorization: Bearer <value>``: the value is tried as an API key first (every configured key
compared in constant time), then as a user token (``ingest.tokens``) when it has a JWT's shape.

A user token is a principal limited to its own user (deny by default):

- ``ingest``: allowed; a handler that takes user ids from the body calls ``own_events_only``
  (an event for another user refuses the whole batch, before anything is stored);
- any route with ``{user_id}`` in its path: only that user's own id, for ``read`` and for the
  ``admin`` routes a user may call on their own data (``self_service=True``);
- everything else (catalog, stats, admin): 403.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import msgspec
from aiohttp import web

from ingest.errors import Forbidden, Unauthorized
from ingest.tokens import TokenVerifier, looks_like_jwt
from waymark.settings import ApiKey

USER_TOKEN_SCOPES = frozenset({"ingest", "read"})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for: an API key (by name) or the user of a user token."""

    name: str
    scopes: frozenset[str]
    user_id: str | None = None

    @property
    def limit_key(self) -> str:
        """The rate-limit bucket: one per API key, one per user of user tokens."""
        return f"k.{self.name}" if self.user_id is None else f"u.{self.user_id}"


PRINCIPAL = web.RequestKey("principal", Principal)


class KeyRing:
    """Resolves a bearer value to a ``Principal`` and checks what it may do."""

    def __init__(self, keys: tuple[ApiKey, ...], tokens: TokenVerifier | None = None) -> None:
        self._keys = [(k, k.secret.encode()) for k in keys]
        self._tokens = tokens or TokenVerifier(())

    def __repr__(self) -> str:
        return f"KeyRing(keys={[k.name for k, _ in self._keys]}, tokens={self._tokens!r})"

    def authenticate(self, request: web.Request) -> Principal:
        """The request's principal (resolved once per request); 401 without a valid one."""
        if PRINCIPAL in request:
            return request[PRINCIPAL]
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        bearer = value.strip()
        if scheme.lower() != "bearer" or not bearer:
            raise Unauthorized("missing bearer token", code="missing_credentials")
        principal = self._api_key(bearer)
        if principal is None:
            if not (self._tokens.enabled and looks_like_jwt(bearer)):
                raise Unauthorized("unknown API key", code="invalid_credentials")
            user = self._tokens.user_of(bearer)
            principal = Principal(name=f"user:{user}", scopes=USER_TOKEN_SCOPES, user_id=user)
        request[PRINCIPAL] = principal
        return principal

    def _api_key(self, bearer: str) -> Principal | None:
        given = bearer.encode()
        found = None
        for key, secret in self._keys:
            if hmac.compare_digest(given, secret):
                found = key
        return None if found is None else Principal(name=found.name, scopes=found.scopes)

    def require(
        self, request: web.Request, scope: str, *, self_service: bool = False
    ) -> Principal:
        """The principal, if it may use this route with ``scope``; else 401 / 403."""
        p = self.authenticate(request)
        if p.user_id is None:
            if scope not in p.scopes:
                raise Forbidden(f"this key lacks the {scope!r} scope", code="insufficient_scope")
            return p
        path_user = request.match_info.get("user_id")
        if path_user is not None and path_user != p.user_id:
            raise Forbidden("a user token may only access its own user", code="forbidden_user")
        if scope not in p.scopes and not self_service:
            raise Forbidden("a user token cannot use this endpoint", code="insufficient_scope")
        if path_user is None and scope != "ingest" and not self_service:
            raise Forbidden("a user token cannot use this endpoint", code="insufficient_scope")
        return p


class _UserOf(msgspec.Struct):
    user_id: object = None


_user_decoders = {
    "json": msgspec.json.Decoder(_UserOf).decode,
    "msgpack": msgspec.msgpack.Decoder(_UserOf).decode,
}


class _Envelope(msgspec.Struct):
    events: list[msgspec.Raw]


_envelope_decoders = {
    "json": msgspec.json.Decoder(_Envelope).decode,
    "msgpack": msgspec.msgpack.Decoder(_Envelope).decode,
}


def own_events_only(principal: Principal, fmt: str, body: bytes) -> None:
    """403 ``forbidden_user`` if a user token's batch holds an event naming another user.

    An API key passes. A body that does not decode is left to the service's own 400; an event
    without a readable ``user_id`` is rejected there by index, so it stores nothing either.
    """
    if principal.user_id is None:
        return
    try:
        raw_events = _envelope_decoders[fmt](body).events
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return
    decode = _user_decoders[fmt]
    for i, raw in enumerate(raw_events):
        try:
            user = decode(raw).user_id
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            continue
        if user is not None and user != principal.user_id:
            raise Forbidden(
                f"event {i} is for another user; a user token writes only its own user's events",
                code="forbidden_user",
            )
