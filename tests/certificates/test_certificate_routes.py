"""The certificate routes: keys, public verification, a learner's list, PDF, revocation."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from aggregator.signing import CertificateSigner, b64url_decode, canonical_json, load_signer
from ingest.app import SERVER_OPTIONS, create_app
from tests.certificates.conftest import bearer, issue
from tests.conftest import ADMIN_KEY, INGEST_KEY, READ_KEY
from waymark.settings import Settings

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
READ = {"Authorization": f"Bearer {READ_KEY}"}
INGEST = {"Authorization": f"Bearer {INGEST_KEY}"}


async def served_key(client: TestClient, kid: str) -> Ed25519PublicKey:
    """The public key ``kid`` as the keys route serves it."""
    resp = await client.get("/v1/certificates/keys")
    assert resp.status == 200 and "max-age" in resp.headers["Cache-Control"]
    [jwk] = [k for k in (await resp.json())["keys"] if k["kid"] == kid]
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", "EdDSA")
    return Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))


async def verify(client: TestClient, code: str) -> tuple[int, Any]:
    resp = await client.get(f"/v1/certificates/verify/{code}")
    return resp.status, await resp.json()


async def test_a_verified_certificate_checks_out_with_the_served_public_key(
    client: TestClient, database_url: str, signer: CertificateSigner
) -> None:
    row = await issue(database_url, signer, user_id="u-1", title="Algebra I")
    status, body = await verify(client, row["code"])
    assert status == 200
    assert (body["status"], body["user_id"], body["title"]) == ("valid", "u-1", "Algebra I")
    assert body["issued_at"].endswith("Z") and body["kid"] == signer.kid
    doc = body["document"]
    assert doc == {"certificate_id": row["certificate_id"], "code": row["code"],
                   "user_id": "u-1", "course_id": "algebra", "title": "Algebra I",
                   "issued_at": body["issued_at"], "kid": signer.kid}
    key = await served_key(client, body["kid"])
    key.verify(b64url_decode(body["signature"]), canonical_json(doc))  # raises if it fails
    for field, value in [("title", "Algebra II"), ("user_id", "u-2"), ("issued_at", "2020")]:
        with pytest.raises(InvalidSignature):
            key.verify(b64url_decode(body["signature"]), canonical_json(doc | {field: value}))


async def test_a_code_is_read_case_insensitively_with_crockford_aliases(
    client: TestClient, database_url: str, signer: CertificateSigner
) -> None:
    row = await issue(database_url, signer)
    code: str = row["code"]
    typed = code.lower().replace("1", "l").replace("0", "o")
    typed = "-".join(typed[i:i + 4] for i in range(0, len(typed), 4))
    status, body = await verify(client, typed)
    assert (status, body["document"]["code"]) == (200, code)


@pytest.mark.parametrize("code", ["unknown", "0000000000000000", "x" * 200, "%00", "AB CD",
                                  "UUUUUUUUUUUUUUUU"])
async def test_a_malformed_or_unknown_code_is_404_alike(
    client: TestClient, database_url: str, signer: CertificateSigner, code: str
) -> None:
    await issue(database_url, signer)
    status, body = await verify(client, code)
    assert status == 404
    assert body == {"error": {"code": "certificate_not_found",
                              "message": "no certificate has this code"}}


async def test_verify_and_keys_need_no_credential_and_keys_list_retired_ones(
    settings: Settings, database_url: str, signer: CertificateSigner
) -> None:
    old = await issue(database_url, signer)
    rotated = settings.replace(cert_signing_key="bmV3LWNlcnRpZmljYXRlLXNpZ25pbmcta2V5LTMyYiE",
                               cert_retired_keys=(signer.jwks()["keys"][0]["x"],))
    new_signer = load_signer(rotated.cert_signing_key or "", rotated.cert_retired_keys)
    async with TestClient(await _server(rotated)) as client:
        jwks = await (await client.get("/v1/certificates/keys")).json()
        kids = [k["kid"] for k in jwks["keys"]]
        status, body = await verify(client, old["code"])
    assert kids == [new_signer.kid, signer.kid]
    assert status == 200 and body["kid"] == signer.kid
    assert new_signer.verify(body["document"], body["kid"], body["signature"])


async def _server(settings: Settings) -> TestServer:
    server = TestServer(create_app(settings))
    await server.start_server(**SERVER_OPTIONS)
    return server


async def test_revoking_shows_revoked_is_idempotent_and_writes_one_event(
    client: TestClient, database_url: str, signer: CertificateSigner
) -> None:
    row = await issue(database_url, signer)
    path = f"/v1/certificates/{row['certificate_id']}:revoke"
    first = await client.post(path, headers=ADMIN)
    assert first.status == 200
    body = await first.json()
    assert body["status"] == "revoked" and body["revoked_at"].endswith("Z")
    again = await client.post(path, headers=ADMIN)
    assert (again.status, await again.json()) == (200, body)
    status, verified = await verify(client, row["code"])
    assert (status, verified["status"]) == (200, "revoked")
    assert signer.verify(verified["document"], verified["kid"], verified["signature"])
    conn = await asyncpg.connect(database_url)
    try:
        events = await conn.fetch("SELECT type, user_id, payload FROM outbox "
                                  "WHERE type = 'certificate.revoked'")
    finally:
        await conn.close()
    assert [(e["type"], e["user_id"]) for e in events] == [("certificate.revoked", "u-1")]


async def test_revoke_needs_the_admin_scope_and_a_known_certificate(
    client: TestClient, database_url: str, signer: CertificateSigner
) -> None:
    row = await issue(database_url, signer)
    path = f"/v1/certificates/{row['certificate_id']}:revoke"
    for headers, status in [({}, 401), (READ, 403), (INGEST, 403), (bearer("u-1"), 403)]:
        assert (await client.post(path, headers=headers)).status == status
    unknown = await client.post("/v1/certificates/nope:revoke", headers=ADMIN)
    assert unknown.status == 404
    assert (await unknown.json())["error"]["code"] == "certificate_not_found"
    assert (await verify(client, row["code"]))[1]["status"] == "valid"  # nothing changed


async def test_a_learner_lists_their_own_certificates_and_no_one_elses(
    client: TestClient, database_url: str, signer: CertificateSigner
) -> None:
    first = await issue(database_url, signer, user_id="u-1", scope_id="algebra")
    second = await issue(database_url, signer, user_id="u-1", scope_id="data", scope="path",
                         title="Data path")
    await issue(database_url, signer, user_id="u-2")
    for headers in (READ, bearer("u-1")):
        resp = await client.get("/v1/users/u-1/certificates", headers=headers)
        assert resp.status == 200
        listed = (await resp.json())["certificates"]
        assert [c["certificate_id"] for c in listed] == [first["certificate_id"],
                                                         second["certificate_id"]]
    assert listed[1]["document"]["path_id"] == "data" and "course_id" not in listed[1]["document"]
    assert all(signer.verify(c["document"], c["kid"], c["signature"]) for c in listed)
    assert (await client.get("/v1/users/u-1/certificates", headers=bearer("u-2"))).status == 403
    assert (await client.get("/v1/users/u-1/certificates", headers=INGEST)).status == 403
    assert (await client.get("/v1/users/u-1/certificates")).status == 401
    empty = await client.get("/v1/users/u-9/certificates", headers=READ)
    assert (empty.status, await empty.json()) == (200, {"certificates": []})


async def test_the_pdf_is_for_a_read_key_or_the_learners_own_token(
    client: TestClient, database_url: str, signer: CertificateSigner
) -> None:
    row = await issue(database_url, signer, user_id="u-1")
    path = f"/v1/certificates/{row['certificate_id']}.pdf"
    for headers in (READ, bearer("u-1")):
        resp = await client.get(path, headers=headers)
        assert resp.status == 200 and resp.content_type == "application/pdf"
        assert (await resp.read()).startswith(b"%PDF-")
    other = await client.get(path, headers=bearer("u-2"))
    assert (other.status, (await other.json())["error"]["code"]) == (403, "forbidden_user")
    assert (await client.get(path, headers=INGEST)).status == 403
    assert (await client.get(path)).status == 401
    unknown = await client.get("/v1/certificates/nope.pdf", headers=READ)
    assert (unknown.status, (await unknown.json())["error"]["code"]) == (404,
                                                                         "certificate_not_found")


async def test_an_erased_learners_certificate_no_longer_verifies(
    client: TestClient, database_url: str, signer: CertificateSigner
) -> None:
    row = await issue(database_url, signer, user_id="u-gone")
    assert (await verify(client, row["code"]))[0] == 200
    assert (await client.delete("/v1/users/u-gone", headers=ADMIN)).status == 200
    assert (await verify(client, row["code"]))[0] == 404
    pdf = await client.get(f"/v1/certificates/{row['certificate_id']}.pdf", headers=READ)
    assert pdf.status == 404


async def test_verification_is_rate_limited_per_client_address(
    settings: Settings, database_url: str, signer: CertificateSigner
) -> None:
    row = await issue(database_url, signer)
    limited = settings.replace(rate_limit_public_rps=1, rate_limit_public_burst=2)
    async with TestClient(await _server(limited)) as client:
        answers = [await client.get(f"/v1/certificates/verify/{row['code']}") for _ in range(4)]
        refused = answers[-1]
        assert [a.status for a in answers[:2]] == [200, 200]
        assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 1
        assert (await refused.json())["error"]["code"] == "rate_limited"
        # the bucket is the address's, not a key's: an API key's reads are not spent by it
        assert (await client.get("/v1/users/u-1/certificates", headers=READ)).status == 200


async def test_without_a_signing_key_no_key_is_served_and_issued_certificates_still_verify(
    settings: Settings, database_url: str, signer: CertificateSigner
) -> None:
    row = await issue(database_url, signer)
    async with TestClient(await _server(settings.replace(cert_signing_key=None))) as client:
        jwks = await (await client.get("/v1/certificates/keys")).json()
        status, body = await verify(client, row["code"])
    assert jwks == {"keys": []}
    assert status == 200 and signer.verify(body["document"], body["kid"], body["signature"])
