"""API-key authentication (SPEC §3): ``Authorization: Bearer <secret>``, scopes per key."""

from __future__ import annotations

import hmac

from aiohttp import web

from ingest.errors import Forbidden, Unauthorized
from waymark.settings import ApiKey


class KeyRing:
    """Resolves a bearer secret to its key; every configured key is compared in constant time."""

    def __init__(self, keys: tuple[ApiKey, ...]) -> None:
        self._keys = [(k, k.secret.encode()) for k in keys]

    def authenticate(self, request: web.Request) -> ApiKey:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("missing bearer token", code="missing_credentials")
        given = token.strip().encode()
        found = None
        for key, secret in self._keys:
            if hmac.compare_digest(given, secret):
                found = key
        if found is None:
            raise Unauthorized("unknown API key", code="invalid_credentials")
        return found

    def require(self, request: web.Request, scope: str) -> ApiKey:
        key = self.authenticate(request)
        if scope not in key.scopes:
            raise Forbidden(f"this key lacks the {scope!r} scope", code="insufficient_scope")
        return key
