"""Certificate signing: canonical JSON, Ed25519 signatures, key rotation and the JWKS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from aggregator.signing import (
    SigningKeyError,
    b64url,
    b64url_decode,
    canonical_json,
    load_signer,
    public_key_of,
)
from devstack.embedded import load_or_create_cert_key
from waymark.cli import masked_settings
from waymark.settings import Settings, SettingsError
from workers.context import WorkerConfig
from workers.metrics import WorkerMetrics

RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
"""The Ed25519 private key of RFC 8037 appendix A.1 (also RFC 8032's test 1)."""
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_KID = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
"""Its RFC 7638 thumbprint (RFC 8037 appendix A.3)."""
OTHER_KEY = b64url(bytes(range(32)))

FIELDS = {
    "certificate_id": "c1",
    "code": "7K3M9QZ2XW4R8T6P",
    "user_id": "u1",
    "course_id": "algebra",
    "title": "Algebra I",
    "issued_at": "2026-11-30T10:02:03.123Z",
}


def test_canonical_json_matches_the_rfc_8785_number_and_string_example() -> None:
    value = json.loads(
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(value) == expected.encode()


def test_canonical_json_sorts_keys_by_utf16_code_units_as_rfc_8785_says() -> None:
    keys = ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"]
    out = json.loads(canonical_json({k: i for i, k in enumerate(keys)}))
    assert list(out) == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_the_key_id_is_the_rfc_7638_thumbprint_and_the_jwks_has_the_rfc_8037_shape() -> None:
    signer = load_signer(RFC8037_D)
    assert signer.kid == RFC8037_KID
    assert signer.jwks() == {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X,
                                       "kid": RFC8037_KID, "alg": "EdDSA", "use": "sig"}]}
    assert public_key_of(RFC8037_D) == RFC8037_X


def test_a_signature_verifies_with_the_public_key_alone() -> None:
    signer = load_signer(RFC8037_D)
    fields = FIELDS | {"kid": signer.kid}
    signature = signer.sign(fields)
    assert "=" not in signature and len(b64url_decode(signature)) == 64
    assert signer.verify(fields, signer.kid, signature)
    public = Ed25519PublicKey.from_public_bytes(b64url_decode(signer.jwks()["keys"][0]["x"]))
    public.verify(b64url_decode(signature), canonical_json(fields))  # raises when it fails


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_a_tampered_field_fails_verification(field: str) -> None:
    signer = load_signer(RFC8037_D)
    fields = FIELDS | {"kid": signer.kid}
    signature = signer.sign(fields)
    assert not signer.verify(fields | {field: fields[field] + "x"}, signer.kid, signature)


def test_a_bad_signature_an_unknown_kid_or_a_moved_kid_fail_without_raising() -> None:
    signer = load_signer(RFC8037_D)
    fields = FIELDS | {"kid": signer.kid}
    signature = signer.sign(fields)
    assert not signer.verify(fields, "unknown", signature)
    assert not signer.verify(fields, signer.kid, "not*base64")
    assert not signer.verify(fields, signer.kid, signature[:-4])
    assert not signer.verify(fields | {"kid": "other"}, signer.kid, signature)
    flipped = b64url(bytes([b64url_decode(signature)[0] ^ 1]) + b64url_decode(signature)[1:])
    assert not signer.verify(fields, signer.kid, flipped)


def test_after_a_rotation_the_retired_key_still_verifies_and_is_still_served() -> None:
    old = load_signer(RFC8037_D)
    old_fields = FIELDS | {"kid": old.kid}
    old_signature = old.sign(old_fields)
    new = load_signer(OTHER_KEY, [public_key_of(RFC8037_D)])
    assert new.kid != old.kid
    assert [k["kid"] for k in new.jwks()["keys"]] == [new.kid, old.kid]
    assert new.verify(old_fields, old.kid, old_signature)
    assert not new.verify(old_fields, new.kid, old_signature)
    assert not load_signer(OTHER_KEY).verify(old_fields, old.kid, old_signature)


@pytest.mark.parametrize("key", ["", "short", "!" * 43, b64url(bytes(31)), b64url(bytes(33))])
def test_a_key_that_is_not_32_base64url_bytes_is_refused(key: str) -> None:
    with pytest.raises(SigningKeyError):
        load_signer(key)
    with pytest.raises(SigningKeyError):
        load_signer(OTHER_KEY, [key])


def test_settings_read_the_signing_key_and_retired_keys_and_refuse_bad_ones() -> None:
    env = {"WAYMARK_CERT_SIGNING_KEY": OTHER_KEY, "WAYMARK_CERT_RETIRED_KEYS": RFC8037_X + ","}
    s = Settings.from_env(env)
    assert (s.cert_signing_key, s.cert_retired_keys) == (OTHER_KEY, (RFC8037_X,))
    assert OTHER_KEY not in repr(s)
    assert Settings.from_env({}).cert_signing_key is None
    with pytest.raises(SettingsError, match="WAYMARK_CERT_SIGNING_KEY"):
        Settings.from_env({"WAYMARK_CERT_SIGNING_KEY": "nope"})
    with pytest.raises(SettingsError, match="WAYMARK_CERT_SIGNING_KEY"):
        Settings.from_env({"WAYMARK_CERT_RETIRED_KEYS": RFC8037_X})


def test_the_signer_never_shows_its_private_key() -> None:
    signer = load_signer(RFC8037_D)
    assert RFC8037_D not in repr(signer) and RFC8037_D not in json.dumps(signer.jwks())
    shown = masked_settings(Settings(cert_signing_key=RFC8037_D, cert_retired_keys=(RFC8037_X,)))
    assert shown["cert_signing_key"] == "***" and RFC8037_D not in str(shown)
    assert shown["cert_retired_keys"] == str((RFC8037_X,))  # public keys: shown


def test_the_dev_stack_creates_a_private_signing_key_once_and_reuses_it(tmp_path: Path) -> None:
    key = load_or_create_cert_key(tmp_path)
    assert load_signer(key).kid and load_or_create_cert_key(tmp_path) == key
    assert (tmp_path / "cert-signing-key").stat().st_mode & 0o777 == 0o600


def test_a_worker_signs_with_the_configured_key_and_without_one_issues_nothing() -> None:
    with_key = WorkerConfig(Settings(cert_signing_key=RFC8037_D), WorkerMetrics.create())
    assert with_key.cert_signer is not None and with_key.cert_signer.kid == RFC8037_KID
    assert WorkerConfig(Settings(), WorkerMetrics.create()).cert_signer is None
