"""User tokens: HS256 only, signature first, ``exp`` required, ``nbf``/``iat``/``aud`` honoured."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from ingest.errors import Unauthorized
from ingest.tokens import LEEWAY_S, TokenVerifier, looks_like_jwt
from waymark.settings import Settings, SettingsError
from waymark_client.tokens import mint_user_token

SECRET = "s" * 32
NOW = 1_800_000_000.0


def b64(obj: Any) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], secret: str = SECRET) -> str:
    signing = f"{b64(header)}.{b64(claims)}"
    sig = hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{b64(sig)}"


def verifier(audience: str | None = None, secrets: tuple[str, ...] = (SECRET,)) -> TokenVerifier:
    return TokenVerifier(secrets, audience=audience, clock=lambda: NOW)


def refused(token: str, v: TokenVerifier | None = None) -> str:
    with pytest.raises(Unauthorized) as e:
        (v or verifier()).user_of(token)
    assert e.value.code == "invalid_token"
    return e.value.message


def test_a_minted_token_names_its_user() -> None:
    assert verifier().user_of(mint_user_token(SECRET, "u-1", now=NOW)) == "u-1"


def test_either_secret_verifies_during_a_rollover() -> None:
    v = verifier(secrets=("n" * 32, SECRET))
    assert v.user_of(mint_user_token(SECRET, "u-1", now=NOW)) == "u-1"
    assert v.user_of(mint_user_token("n" * 32, "u-2", now=NOW)) == "u-2"
    refused(mint_user_token("x" * 32, "u-3", now=NOW), v)


GOOD_CLAIMS = {"sub": "u-1", "exp": NOW + 60}


@pytest.mark.parametrize("header", [
    {"alg": "none"}, {"alg": "None"}, {"alg": "RS256"}, {"alg": "HS512"}, {"alg": "hs256"},
    {"typ": "JWT"}, {"alg": "HS256", "crit": ["exp"]}, {"alg": "HS256", "typ": "JOSE+JSON"},
])
def test_any_algorithm_but_hs256_is_refused(header: dict[str, Any]) -> None:
    refused(forge(header, GOOD_CLAIMS))


def test_an_unsigned_token_is_refused() -> None:
    token = f"{b64({'alg': 'none'})}.{b64(GOOD_CLAIMS)}."
    refused(token)
    refused(token + "AA")


def test_a_changed_payload_breaks_the_signature() -> None:
    h, _, sig = forge({"alg": "HS256"}, GOOD_CLAIMS).split(".")
    other = b64({"sub": "u-2", "exp": NOW + 60})
    assert "signature" in refused(f"{h}.{other}.{sig}")


@pytest.mark.parametrize(("claims", "why"), [
    ({"sub": "u-1"}, "exp"),
    ({"sub": "u-1", "exp": NOW - LEEWAY_S - 1}, "expired"),
    ({"sub": "u-1", "exp": "9999999999"}, "number"),
    ({"sub": "u-1", "exp": True}, "number"),
    ({"sub": "u-1", "exp": NOW + 60, "nbf": NOW + LEEWAY_S + 5}, "not valid yet"),
    ({"sub": "u-1", "exp": NOW + 60, "iat": NOW + LEEWAY_S + 5}, "not valid yet"),
    ({"exp": NOW + 60}, "sub"),
    ({"sub": 42, "exp": NOW + 60}, "sub"),
    ({"sub": "u|1", "exp": NOW + 60}, "sub"),
    ({"sub": "{wm.1}", "exp": NOW + 60}, "sub"),
    ({"sub": "u-1", "exp": NOW + 60, "aud": "someone-else"}, "audience"),
])
def test_claims_are_checked(claims: dict[str, Any], why: str) -> None:
    assert why in refused(forge({"alg": "HS256", "typ": "JWT"}, claims))


def test_a_small_clock_difference_is_tolerated() -> None:
    claims = {"sub": "u-1", "exp": NOW - LEEWAY_S + 1, "iat": NOW + LEEWAY_S - 1}
    assert verifier().user_of(forge({"alg": "HS256"}, claims)) == "u-1"


def test_a_configured_audience_must_be_named() -> None:
    v = verifier(audience="waymark")
    assert v.user_of(mint_user_token(SECRET, "u-1", now=NOW, audience="waymark")) == "u-1"
    ok = forge({"alg": "HS256"}, {**GOOD_CLAIMS, "aud": ["lms", "waymark"]})
    assert v.user_of(ok) == "u-1"
    refused(mint_user_token(SECRET, "u-1", now=NOW), v)
    refused(mint_user_token(SECRET, "u-1", now=NOW, audience="lms"), v)


@pytest.mark.parametrize("token", [
    "", "a.b", "a.b.c.d", "a.b.", "a..c", "a b.c.d", "x" * 5000 + ".a.b", "é.a.b",
    f"{b64(b'not json')}.{b64(GOOD_CLAIMS)}.AAAA", f"{b64([1])}.{b64(GOOD_CLAIMS)}.AAAA",
    f"{b64(b'[' * 3000)}.{b64(GOOD_CLAIMS)}.AAAA",
])
def test_garbage_is_refused_cleanly(token: str) -> None:
    refused(token)


def test_a_token_without_secrets_configured_is_refused() -> None:
    refused(mint_user_token(SECRET, "u-1", now=NOW), TokenVerifier(()))


def test_the_shape_check_is_the_compact_jws_form() -> None:
    assert looks_like_jwt(mint_user_token(SECRET, "u-1"))
    assert not looks_like_jwt("test-admin-secret")


def test_secrets_do_not_show_in_reprs() -> None:
    assert SECRET not in repr(verifier())


@pytest.mark.parametrize("env", [
    {"WAYMARK_USER_TOKEN_SECRET": "too-short"},
    {"WAYMARK_USER_TOKEN_SECRET": ",".join(["k" * 32] * 3)},
    {"WAYMARK_RATE_LIMIT_USER_BURST": "0"},
    {"WAYMARK_RATE_LIMIT_KEY_RPS": "-1"},
    {"WAYMARK_BODY_TIMEOUT_S": "0"},
    {"WAYMARK_BODY_TIMEOUT_S": "soon"},
])
def test_unusable_security_settings_are_refused_at_start(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(env)


def test_security_settings_parse() -> None:
    s = Settings.from_env({"WAYMARK_USER_TOKEN_SECRET": f"{'n' * 32}, {'o' * 32}",
                           "WAYMARK_USER_TOKEN_AUDIENCE": "waymark",
                           "WAYMARK_RATE_LIMIT_USER_RPS": "0", "WAYMARK_BODY_TIMEOUT_S": "2.5"})
    assert s.user_token_secrets == ("n" * 32, "o" * 32)
    assert (s.user_token_audience, s.rate_limit_user_rps, s.body_timeout_s) == ("waymark", 0, 2.5)
