"""User tokens signed with a platform's private key (RS256 / EdDSA), public keys from a JWKS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from ingest.tokens import TokenVerifier, load_jwks
from tests.security.conftest import serve
from tests.security.test_tokens import NOW, SECRET, b64, forge, refused
from waymark.settings import Settings, SettingsError
from waymark_client.tokens import mint_user_token

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ED_KEY = ed25519.Ed25519PrivateKey.generate()
CLAIMS = {"sub": "u-1", "exp": NOW + 60}


def pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def public_pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def jwks_file(tmp_path: Path, *extra: dict[str, Any]) -> Path:
    keys = [
        RSAAlgorithm.to_jwk(RSA_KEY.public_key(), as_dict=True) | {"kid": "rsa-1"},
        OKPAlgorithm.to_jwk(ED_KEY.public_key(), as_dict=True) | {"kid": "ed-1"},
        *extra,
    ]
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": keys}))
    return path


@pytest.fixture
def platform(tmp_path: Path) -> TokenVerifier:
    return TokenVerifier((SECRET,), public_keys=load_jwks(jwks_file(tmp_path)), clock=lambda: NOW)


def mint(key: bytes, alg: str, kid: str, **kw: Any) -> str:
    return mint_user_token(key, "u-1", algorithm=alg, kid=kid, **{"now": NOW, **kw})


@pytest.mark.parametrize(("alg", "key", "kid"), [("RS256", RSA_KEY, "rsa-1"),
                                                 ("EdDSA", ED_KEY, "ed-1")])
def test_a_token_signed_with_the_platform_key_names_its_user(
    platform: TokenVerifier, alg: str, key: Any, kid: str
) -> None:
    assert platform.user_of(mint(pem(key), alg, kid)) == "u-1"
    # the shared secret still verifies beside the platform's keys
    assert platform.user_of(mint_user_token(SECRET, "u-2", now=NOW)) == "u-2"


@pytest.mark.parametrize(("alg", "other", "kid"), [
    ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048), "rsa-1"),
    ("EdDSA", ed25519.Ed25519PrivateKey.generate(), "ed-1"),
])
def test_a_token_signed_with_another_key_is_refused(
    platform: TokenVerifier, alg: str, other: Any, kid: str
) -> None:
    assert "signature" in refused(mint(pem(other), alg, kid), platform)


def test_the_kid_must_name_a_configured_key_of_the_tokens_algorithm(
    platform: TokenVerifier
) -> None:
    assert "kid" in refused(mint(pem(RSA_KEY), "RS256", "unknown"), platform)
    assert "kid" in refused(mint(pem(ED_KEY), "EdDSA", "rsa-1"), platform)
    no_kid = jwt.encode(CLAIMS, pem(RSA_KEY), algorithm="RS256")
    assert "kid" in refused(no_kid, platform)


@pytest.mark.parametrize("kid", ["rsa-1", "ed-1"])
def test_an_hs256_token_keyed_with_a_public_key_is_refused(
    platform: TokenVerifier, kid: str
) -> None:
    """Algorithm confusion: the public key (PEM or JWK JSON) used as an HMAC secret."""
    key = RSA_KEY if kid == "rsa-1" else ED_KEY
    for secret in (public_pem(key).decode(), json.dumps(load_jwks_dict(key))):
        token = forge({"alg": "HS256", "kid": kid}, CLAIMS, secret)
        assert "signature" in refused(token, platform)
    only_keys = TokenVerifier((), public_keys=platform._public, clock=lambda: NOW)
    refused(forge({"alg": "HS256", "kid": kid}, CLAIMS, public_pem(key).decode()), only_keys)


def load_jwks_dict(key: Any) -> dict[str, Any]:
    algorithm = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else OKPAlgorithm
    jwk: dict[str, Any] = algorithm.to_jwk(key.public_key(), as_dict=True)
    return jwk


@pytest.mark.parametrize("alg", ["none", "None", "HS512", "RS512", "ES256", "PS256", "eddsa"])
def test_unsigned_and_unlisted_algorithms_are_refused(platform: TokenVerifier, alg: str) -> None:
    refused(f"{b64({'alg': alg, 'kid': 'rsa-1'})}.{b64(CLAIMS)}.", platform)
    refused(f"{b64({'alg': alg, 'kid': 'rsa-1'})}.{b64(CLAIMS)}.AAAA", platform)


def test_platform_tokens_keep_the_claim_rules(tmp_path: Path) -> None:
    v = TokenVerifier((), audience="waymark", public_keys=load_jwks(jwks_file(tmp_path)),
                      clock=lambda: NOW)
    ok = mint(pem(ED_KEY), "EdDSA", "ed-1", audience="waymark")
    assert v.user_of(ok) == "u-1"
    assert "audience" in refused(mint(pem(ED_KEY), "EdDSA", "ed-1"), v)
    no_exp = jwt.encode({"sub": "u-1", "aud": "waymark"}, pem(ED_KEY), algorithm="EdDSA",
                        headers={"kid": "ed-1"})
    assert "exp" in refused(no_exp, v)
    assert "expired" in refused(mint(pem(ED_KEY), "EdDSA", "ed-1", audience="waymark",
                                     ttl_s=1, now=NOW - 100), v)


@pytest.mark.parametrize("content", [
    "not json", '{"keys": 1}', '{"keys": [{"kty": "OKP"}]}', '{"keys": []}',
    json.dumps({"keys": [{"kty": "oct", "k": b64(b"s" * 32), "kid": "h"}]}),
    json.dumps({"keys": [OKPAlgorithm.to_jwk(ED_KEY, as_dict=True) | {"kid": "private"}]}),
])
def test_an_unusable_jwks_file_is_refused_at_start(tmp_path: Path, content: str) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(content)
    with pytest.raises(SettingsError, match="WAYMARK_USER_TOKEN_JWKS"):
        load_jwks(path)
    with pytest.raises(SettingsError, match="cannot be read"):
        load_jwks(tmp_path / "missing.json")


async def test_the_server_accepts_platform_signed_tokens_for_their_own_user_only(
    settings: Settings, tmp_path: Path
) -> None:
    env_settings = Settings.from_env({"WAYMARK_USER_TOKEN_JWKS": str(jwks_file(tmp_path))})
    configured = settings.replace(user_token_jwks=env_settings.user_token_jwks)
    token = mint_user_token(pem(RSA_KEY), "u-1", algorithm="RS256", kid="rsa-1")
    async with await serve(configured) as client:
        assert isinstance(client, TestClient)
        auth = {"Authorization": f"Bearer {token}"}
        own = await client.get("/v1/users/u-1/courses", headers=auth)
        other = await client.get("/v1/users/u-2/courses", headers=auth)
    assert own.status == 200, await own.text()
    assert other.status == 403
