"""Certificate tests: the app with user tokens on, and certificates issued into the database.

``issue`` writes a row exactly as issuance does (``aggregator.certificates``: a fresh code, the
signed fields of ``certificate_fields``, the current key's signature), so the routes are tested
on what a real issuance stores.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from aggregator.certificates import certificate_fields, new_code
from aggregator.signing import CertificateSigner
from waymark.bootstrap import cert_signer
from waymark.settings import Settings
from waymark_client.tokens import mint_user_token

TOKEN_SECRET = "certificate-tests-user-token-secret-0123"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(user_token_secrets=(TOKEN_SECRET,))


@pytest.fixture
def signer(settings: Settings) -> CertificateSigner:
    found = cert_signer(settings)
    assert found is not None  # the test settings always configure a signing key
    return found


def bearer(user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_user_token(TOKEN_SECRET, user_id)}"}


async def issue(
    database_url: str, signer: CertificateSigner, user_id: str = "u-1",
    scope_id: str = "algebra", title: str = "Algebra I", scope: str = "course",
) -> dict[str, Any]:
    """Write one certificate row as issuance does; return it with its signature."""
    now = datetime.now(UTC)
    row: dict[str, Any] = {
        "user_id": user_id, "certificate_id": str(uuid.uuid4()), "scope": scope,
        "scope_id": scope_id, "title": title, "code": new_code(),
        "issued_at": now.replace(microsecond=now.microsecond // 1000 * 1000), "kid": signer.kid,
    }
    row["signature"] = signer.sign(certificate_fields(row))
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO certificates (user_id, certificate_id, scope, scope_id, title, code,"
            " issued_at, kid, signature) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            *(row[c] for c in ("user_id", "certificate_id", "scope", "scope_id", "title", "code",
                               "issued_at", "kid", "signature")),
        )
    finally:
        await conn.close()
    return row
