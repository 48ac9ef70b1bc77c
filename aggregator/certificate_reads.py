"""Reading and revoking issued certificates: by verification code, by id, by learner.

Certificates are keyed by (user_id, certificate_id); the certificate id alone is found through
the plain index ``certificates_by_id`` and a code through ``certificates_code`` (neither is
unique: ids are random UUIDs and codes carry 80 random bits, so a clash is negligible, and a
unique index could not be distributed by learner). What a reader gets back is the signed
document exactly as it was signed (``certificate_fields``), its signature and key id, so it can
be checked offline against the public keys, plus whether it is still valid. Revocation is the
one change made here: it sets ``revoked_at`` once (a second revocation changes nothing) and
writes a ``certificate.revoked`` event in the same transaction.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec

from aggregator.certificates import certificate_fields, normalize_code, rfc3339_ms
from aggregator.db import Conn
from aggregator.events import DomainEvent, append

CODE_PATTERN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{16,32}$")
"""A normalised code: Crockford base32 (no I, L, O, U), 16 to 32 characters."""

_BY_CODE = """
SELECT user_id, certificate_id, scope, scope_id, title, code, issued_at, kid, signature, revoked_at
FROM certificates WHERE code = $1
"""
_BY_ID = """
SELECT user_id, certificate_id, scope, scope_id, title, code, issued_at, kid, signature, revoked_at
FROM certificates WHERE certificate_id = $1 LIMIT 1
"""
_OF_LEARNER = """
SELECT user_id, certificate_id, scope, scope_id, title, code, issued_at, kid, signature, revoked_at
FROM certificates WHERE user_id = $1 ORDER BY issued_at, certificate_id
"""
_REVOKE = """
UPDATE certificates SET revoked_at = $3
WHERE user_id = $1 AND certificate_id = $2 AND revoked_at IS NULL
RETURNING user_id, certificate_id, scope, scope_id, title, code, issued_at, kid, signature,
          revoked_at
"""


class CertificateView(msgspec.Struct, kw_only=True):
    """An issued certificate: its signed document, signature, key id and status."""

    certificate_id: str
    status: str
    """``valid``, or ``revoked`` once an admin revoked it."""
    user_id: str
    scope: str
    scope_id: str
    title: str
    code: str
    issued_at: str
    revoked_at: str | None
    kid: str
    signature: str
    """Base64url Ed25519 signature of the RFC 8785 canonical JSON of ``document``."""
    document: dict[str, Any]
    """The signed fields, exactly as signed."""


class VerifyView(msgspec.Struct, kw_only=True):
    """What the public verify route reveals: the minimum needed to check a certificate."""

    status: str
    user_id: str
    title: str
    issued_at: str
    kid: str
    signature: str
    document: dict[str, Any]


class CertificateList(msgspec.Struct, kw_only=True):
    certificates: list[CertificateView]


def certificate_view(row: asyncpg.Record) -> CertificateView:
    """The view of a ``certificates`` row."""
    revoked = row["revoked_at"]
    return CertificateView(
        certificate_id=row["certificate_id"], status="revoked" if revoked else "valid",
        user_id=row["user_id"], scope=row["scope"], scope_id=row["scope_id"], title=row["title"],
        code=row["code"], issued_at=rfc3339_ms(row["issued_at"]),
        revoked_at=rfc3339_ms(revoked) if revoked else None, kid=row["kid"],
        signature=row["signature"], document=certificate_fields(dict(row)),
    )


def verify_view(row: asyncpg.Record) -> VerifyView:
    full = certificate_view(row)
    return VerifyView(status=full.status, user_id=full.user_id, title=full.title,
                      issued_at=full.issued_at, kid=full.kid, signature=full.signature,
                      document=full.document)


def code_key(text: str) -> str | None:
    """The stored form of a code as typed (case, Crockford aliases, hyphens); ``None`` when it
    cannot be a code at all, so a malformed one is answered like an unknown one."""
    code = normalize_code(text)
    return code if CODE_PATTERN.match(code) else None


async def by_code(conn: Conn, code: str) -> asyncpg.Record | None:
    """The certificate of a normalised code, through the code index."""
    rows = await conn.fetch(_BY_CODE, code)
    return rows[0] if rows else None


async def by_id(conn: Conn, certificate_id: str) -> asyncpg.Record | None:
    """The certificate of an id, through the id index (the id alone does not name the learner)."""
    row: asyncpg.Record | None = await conn.fetchrow(_BY_ID, certificate_id)
    return row


async def of_learner(conn: Conn, user_id: str) -> list[asyncpg.Record]:
    """A learner's certificates, oldest first."""
    return await conn.fetch(_OF_LEARNER, user_id)


async def revoke(conn: Conn, certificate_id: str) -> asyncpg.Record | None:
    """Revoke a certificate (once: a second call changes nothing); ``None`` when unknown."""
    async with conn.transaction():
        row = await by_id(conn, certificate_id)
        if row is None or row["revoked_at"] is not None:
            return row
        revoked = await conn.fetchrow(_REVOKE, row["user_id"], certificate_id, datetime.now(UTC))
        if revoked is None:  # revoked meanwhile by another request
            return await by_id(conn, certificate_id)
        await append(conn, [DomainEvent(
            type="certificate.revoked", user_id=revoked["user_id"],
            course_id=revoked["scope_id"] if revoked["scope"] == "course" else "",
            occurred_at=revoked["revoked_at"],
            data={"certificate_id": certificate_id, "scope": revoked["scope"],
                  "scope_id": revoked["scope_id"], "code": revoked["code"],
                  "revoked_at": rfc3339_ms(revoked["revoked_at"])},
        )])
        return revoked
