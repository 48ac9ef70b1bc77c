"""Properties of the signing rules on random values: canonical JSON against a reference model,
sign/verify round trips, any changed field fails, codes read however they are typed, and the
token verifier refuses every malformed token with a 401 only."""

from __future__ import annotations

import json
import warnings
from typing import Any

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jwt.warnings import InsecureKeyLengthWarning

from aggregator.certificate_reads import code_key
from aggregator.certificates import CROCKFORD, new_code
from aggregator.signing import canonical_json, load_signer
from ingest.errors import Unauthorized
from ingest.tokens import TokenVerifier
from tests.security.test_tokens import forge

SIGNER = load_signer("dGVzdC1jZXJ0aWZpY2F0ZS1zaWduaW5nLWtleS0zMmI")
SECRET = "p" * 32
PLATFORM_KEYS = {"ed-1": jwt.PyJWK({"kty": "OKP", "crv": "Ed25519", "kid": "ed-1",
                                   "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})}
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
documents = st.dictionaries(texts, texts | st.integers(-(2**53) + 1, 2**53 - 1), max_size=8)


def reference_canonical(value: dict[str, Any]) -> bytes:
    """RFC 8785 for strings and safe integers: keys sorted by UTF-16 code units, no spaces."""
    items = sorted(value.items(), key=lambda kv: kv[0].encode("utf-16-be"))
    body = ",".join(json.dumps(k, ensure_ascii=False) + ":" + json.dumps(v, ensure_ascii=False)
                    for k, v in items)
    return ("{" + body + "}").encode()


@given(documents)
def test_canonical_json_matches_the_reference_for_strings_and_integers(
    doc: dict[str, Any]
) -> None:
    # json.dumps escapes like JCS except for U+007F..U+009F and U+2028/9, which JCS leaves as is
    assert json.loads(canonical_json(doc)) == doc
    assert canonical_json(doc) == reference_canonical(doc) or any(
        "\x7f" <= c <= "\x9f" or c in "\u2028\u2029" for s in [*doc, *map(str, doc.values())]
        for c in s)


@settings(max_examples=50)
@given(documents, st.data())
def test_a_signature_verifies_its_document_and_no_changed_one(
    doc: dict[str, Any], data: st.DataObject
) -> None:
    signature = SIGNER.sign(doc)
    assert SIGNER.verify(doc, SIGNER.kid, signature)
    if doc:
        key = data.draw(st.sampled_from(sorted(doc)))
        changed = {**doc, key: f"{doc[key]}!"}
        assert not SIGNER.verify(changed, SIGNER.kid, signature)
    assert not SIGNER.verify({**doc, "extra": 1}, SIGNER.kid, signature)


aliases = {"1": "1IiLl", "0": "0Oo"}


def test_a_new_code_is_16_crockford_characters() -> None:
    codes = {new_code() for _ in range(100)}
    assert len(codes) == 100 and all(len(c) == 16 and set(c) <= set(CROCKFORD) for c in codes)


@given(st.text(CROCKFORD, min_size=16, max_size=16), st.data())
def test_a_code_is_found_however_it_is_typed(code: str, data: st.DataObject) -> None:
    typed = "".join(data.draw(st.sampled_from(aliases.get(c, c + c.lower()))) for c in code)
    cuts = data.draw(st.lists(st.integers(1, 15), max_size=4, unique=True))
    for cut in sorted(cuts, reverse=True):
        typed = typed[:cut] + data.draw(st.sampled_from("- ")) + typed[cut:]
    assert code_key(typed) == code


@given(st.text(max_size=60))
def test_any_text_is_a_code_or_nothing_and_never_an_error(text: str) -> None:
    key = code_key(text)
    assert key is None or (16 <= len(key) <= 32 and set(key) <= set(CROCKFORD))


header_values = st.none() | st.booleans() | st.integers() | texts | st.lists(texts, max_size=2)
headers = st.fixed_dictionaries({}, optional={
    "alg": st.sampled_from(["HS256", "RS256", "EdDSA", "none", "HS512"]) | header_values,
    "typ": header_values, "kid": header_values, "crit": header_values})
claims = st.fixed_dictionaries({}, optional={
    "sub": header_values, "exp": header_values | st.floats(allow_nan=True),
    "nbf": header_values, "iat": header_values, "aud": header_values})


@settings(max_examples=200)
@given(headers, claims, st.sampled_from(["good", "bad", "none"]))
def test_the_verifier_answers_a_user_or_a_401_and_nothing_else(
    header: dict[str, Any], payload: dict[str, Any], signed: str
) -> None:
    verifier = TokenVerifier((SECRET,), audience="waymark")
    key = SECRET if signed == "good" else "q" * 32
    try:
        with warnings.catch_warnings():  # a header naming HS512 makes PyJWT warn of the key size
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            token = jwt.encode(payload, key, algorithm="HS256", headers=header)
    except (TypeError, ValueError, KeyError, NotImplementedError, jwt.PyJWTError):
        return  # PyJWT will not even encode it: nothing to send
    if signed == "none":
        token = token.rsplit(".", 1)[0] + "."
    try:
        user = verifier.user_of(token)
    except Unauthorized as e:
        assert e.code == "invalid_token" and token not in e.message
        return
    assert signed == "good" and user == payload["sub"]
    assert isinstance(payload.get("exp"), int | float) and payload.get("aud") is not None


@pytest.mark.parametrize("alg", ["HS256"])
def test_the_property_above_can_accept_a_token(alg: str) -> None:
    """Guards the property against refusing everything."""
    token = jwt.encode({"sub": "u-1", "exp": 4_000_000_000, "aud": "waymark"}, SECRET,
                       algorithm=alg)
    assert TokenVerifier((SECRET,), audience="waymark").user_of(token) == "u-1"


json_values = st.recursive(st.none() | st.booleans() | st.integers() | texts,
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(texts, inner, max_size=3), max_leaves=8)


@settings(max_examples=200)
@given(st.dictionaries(st.sampled_from(["alg", "typ", "kid", "crit", "b64", "jwk"]) | texts,
                       json_values, max_size=5),
       st.dictionaries(st.sampled_from(["sub", "exp", "nbf", "iat", "aud"]) | texts,
                       json_values, max_size=6))
def test_any_header_and_claims_signed_with_the_secret_give_a_user_or_a_401(
    header: dict[str, Any], payload: dict[str, Any]
) -> None:
    """Raw JSON, not what a JWT library would write: every value in every place."""
    token = forge(header, payload, SECRET)
    try:
        user = TokenVerifier((SECRET,), public_keys=PLATFORM_KEYS).user_of(token)
    except Unauthorized as e:
        assert e.code == "invalid_token"
        return
    assert header.get("alg") == "HS256" and user == payload["sub"]
