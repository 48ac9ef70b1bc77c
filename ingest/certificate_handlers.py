"""Certificate routes: the public keys, public verification, a learner's list, PDF, revocation.

Thin edges over ``aggregator.certificate_reads``. The keys and verify routes take no credential;
verify is rate-limited per client address and answers a malformed code exactly like an unknown
one (404 ``certificate_not_found``), after a lookup by index and a constant-time comparison. The
PDF route takes a read-scoped key or the learner's own user token (a user token asking for
another learner's certificate gets 403 ``forbidden_user``); revocation needs the admin scope.
Reads go to the primary, so a revocation shows at once.
"""

from __future__ import annotations

import asyncio
import hmac

import msgspec
from aiohttp import web

from aggregator import certificate_reads as certs
from ingest.auth import PRINCIPAL
from ingest.certificate_pdf import render_certificate
from ingest.context import CERT_SIGNER, POOL
from ingest.errors import Forbidden, NotFound
from ingest.handlers import json_response
from ingest.ratelimit import LIMITER

JWKS_MAX_AGE_S = 300
_json = msgspec.json.Encoder()


class Jwks(msgspec.Struct):
    """The certificate public keys: Ed25519 JWKs, the current key first, then retired ones."""

    keys: list[dict[str, str]]


def _unknown_code() -> NotFound:
    return NotFound("no certificate has this code", code="certificate_not_found")


def _unknown_id(certificate_id: str) -> NotFound:
    return NotFound(f"no certificate {certificate_id!r}", code="certificate_not_found")


async def certificate_keys(request: web.Request) -> web.Response:
    signer = request.app[CERT_SIGNER]
    jwks = Jwks(keys=signer.jwks()["keys"] if signer else [])
    return web.Response(body=_json.encode(jwks), content_type="application/json",
                        headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE_S}"})


async def verify_certificate(request: web.Request) -> web.Response:
    await request.app[LIMITER].check_address(request.remote or "unknown")
    code = certs.code_key(request.match_info["code"])
    if code is None:
        raise _unknown_code()
    async with request.app[POOL].acquire() as conn:
        row = await certs.by_code(conn, code)
    if row is None or not hmac.compare_digest(row["code"].encode(), code.encode()):
        raise _unknown_code()
    return json_response(certs.verify_view(row))


async def user_certificates(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        rows = await certs.of_learner(conn, request.match_info["user_id"])
    return json_response(certs.CertificateList(certificates=[certs.certificate_view(r)
                                                             for r in rows]))


async def certificate_pdf(request: web.Request) -> web.Response:
    certificate_id = request.match_info["certificate_id"]
    async with request.app[POOL].acquire() as conn:
        row = await certs.by_id(conn, certificate_id)
    if row is None:
        raise _unknown_id(certificate_id)
    principal = request[PRINCIPAL]
    if principal.user_id is not None and principal.user_id != row["user_id"]:
        raise Forbidden("a user token may only access its own user", code="forbidden_user")
    view = certs.certificate_view(row)
    verify_url = f"{request.scheme}://{request.host}/v1/certificates/verify/{view.code}"
    pdf = await asyncio.to_thread(render_certificate, view, verify_url)
    return web.Response(body=pdf, content_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="certificate-{view.code}.pdf"'})


async def revoke_certificate(request: web.Request) -> web.Response:
    certificate_id = request.match_info["certificate_id"]
    async with request.app[POOL].acquire() as conn:
        row = await certs.revoke(conn, certificate_id)
    if row is None:
        raise _unknown_id(certificate_id)
    return json_response(certs.certificate_view(row))
