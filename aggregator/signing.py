"""Certificate signatures: Ed25519 (RFC 8032) over the RFC 8785 canonical JSON of the fields.

Anyone holding the public keys served as a JWKS can check a certificate offline: rebuild the
canonical JSON of its signed fields, decode the base64url signature, verify with the key whose
``kid`` the certificate names. A key is given as the base64url of its 32 raw bytes (the JWK
``d`` of the private key, ``x`` of a public one); its ``kid`` is its RFC 7638 JWK thumbprint,
so the same key always has the same id. Retired public keys still verify (and are still served)
so certificates signed before a rotation stay checkable; only the current key signs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

KEY_BYTES = 32


class SigningKeyError(ValueError):
    """A configured certificate key is not a base64url Ed25519 key of 32 bytes."""

    code = "invalid_signing_key"


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """The RFC 8785 (JCS) serialisation: sorted keys, no spaces, ECMAScript numbers."""
    return rfc8785.dumps(dict(value))


def b64url(data: bytes) -> str:
    """Base64url without padding (the JOSE encoding)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """The bytes of a base64url string, padded or not; ``ValueError`` when it is not one."""
    if not text or any(c not in _B64URL for c in text.rstrip("=")):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise ValueError("not base64url") from None


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _raw_key(text: str, what: str) -> bytes:
    try:
        raw = b64url_decode(text.strip())
    except ValueError:
        raw = b""
    if len(raw) != KEY_BYTES:
        raise SigningKeyError(f"{what} must be the base64url of 32 bytes (an Ed25519 key)")
    return raw


def _public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    x = b64url(key.public_bytes(Encoding.Raw, PublicFormat.Raw))
    # RFC 7638: the thumbprint hashes the required members in lexicographic order.
    thumbprint = canonical_json({"crv": "Ed25519", "kty": "OKP", "x": x})
    kid = b64url(hashlib.sha256(thumbprint).digest())
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}


class CertificateSigner:
    """Signs with the current key; verifies with it or any retired public key, by ``kid``."""

    def __init__(self, private: Ed25519PrivateKey, retired: Sequence[Ed25519PublicKey] = ()):
        self._private = private
        current = _public_jwk(private.public_key())
        self.kid: str = current["kid"]
        self._public: dict[str, Ed25519PublicKey] = {self.kid: private.public_key()}
        self._jwks = [current]
        for key in retired:
            jwk = _public_jwk(key)
            if jwk["kid"] not in self._public:
                self._public[jwk["kid"]] = key
                self._jwks.append(jwk)

    def __repr__(self) -> str:
        return f"CertificateSigner(kid={self.kid!r}, keys={len(self._jwks)})"

    def sign(self, fields: Mapping[str, Any]) -> str:
        """The base64url Ed25519 signature of ``canonical_json(fields)`` with the current key."""
        return b64url(self._private.sign(canonical_json(fields)))

    def verify(self, fields: Mapping[str, Any], kid: str, signature: str) -> bool:
        """Whether ``signature`` is that of ``fields`` by the key ``kid`` (current or retired).

        Fields that name a ``kid`` must name this one: a signature cannot be moved to a key
        the document does not claim.
        """
        key = self._public.get(kid)
        if key is None or fields.get("kid", kid) != kid:
            return False
        try:
            key.verify(b64url_decode(signature), canonical_json(fields))
        except (ValueError, InvalidSignature, rfc8785.CanonicalizationError):
            return False
        return True

    def jwks(self) -> dict[str, Any]:
        """``{"keys": [...]}``: the current public key first, then the retired ones."""
        return {"keys": [dict(k) for k in self._jwks]}


def load_signer(private_key: str, retired_public_keys: Sequence[str] = ()) -> CertificateSigner:
    """A signer from the base64url private key and the base64url retired public keys."""
    private = Ed25519PrivateKey.from_private_bytes(_raw_key(private_key, "the signing key"))
    retired = [
        Ed25519PublicKey.from_public_bytes(_raw_key(k, "a retired public key"))
        for k in retired_public_keys
    ]
    return CertificateSigner(private, retired)


def public_key_of(private_key: str) -> str:
    """The base64url public key of a base64url private key (what to retire after a rotation)."""
    private = Ed25519PrivateKey.from_private_bytes(_raw_key(private_key, "the signing key"))
    return b64url(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
