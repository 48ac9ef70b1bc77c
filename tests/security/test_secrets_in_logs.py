"""No secret reaches a log line: a debug-level ``waymark serve`` run, grepped whole."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from devstack.servers import free_port
from tests.conftest import ADMIN_KEY, API_KEYS, INGEST_KEY, READ_KEY
from tests.helpers import event, wait_http, waymark_process
from tests.security.conftest import OLD_TOKEN_SECRET, TOKEN_SECRET
from tests.security.test_tokens import b64, forge
from waymark_client.tokens import mint_user_token


def call(url: str, secret: str, body: bytes | None = None) -> int:
    req = urllib.request.Request(url, data=body, headers={
        "Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def test_a_debug_log_of_auth_successes_and_failures_holds_no_secret(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    url = f"http://127.0.0.1:{port}"
    token = mint_user_token(TOKEN_SECRET, "u-1")
    sent = [ADMIN_KEY, INGEST_KEY, READ_KEY, TOKEN_SECRET, OLD_TOKEN_SECRET, token]
    with waymark_process("serve", log, REDIS_URL=redis_url, DATABASE_URL=database_url,
                         WAYMARK_API_KEYS=API_KEYS, WAYMARK_HTTP_PORT=str(port),
                         WAYMARK_USER_TOKEN_SECRET=f"{TOKEN_SECRET},{OLD_TOKEN_SECRET}",
                         WAYMARK_RATE_LIMIT_USER_RPS="1", WAYMARK_RATE_LIMIT_USER_BURST="2",
                         WAYMARK_LOG_LEVEL="debug", WAYMARK_LOG_FORMAT="json",
                         PYTHONASYNCIODEBUG="1") as proc:
        wait_http(f"{url}/health", proc)
        batch = json.dumps({"events": [event("course_viewed")]}).encode()
        other = json.dumps({"events": [event("course_viewed", user_id="u-2")]}).encode()
        expired = mint_user_token(TOKEN_SECRET, "u-1", now=1e9)
        foreign = mint_user_token("an-attackers-own-secret-0123456789ab", "u-1")
        unsigned = f"{b64({'alg': 'none'})}.{b64({'sub': 'u-1', 'exp': 4e9})}."
        old = mint_user_token(OLD_TOKEN_SECRET, "u-1")
        hs512 = forge({"alg": "HS512"}, {"sub": "u-1", "exp": 4e9}, TOKEN_SECRET)
        sent += [expired, foreign, unsigned, old, hs512, "wrong-key-guess-1234"]
        assert call(f"{url}/v1/events", ADMIN_KEY, batch) == 202
        assert call(f"{url}/v1/events", INGEST_KEY, batch) == 202
        assert call(f"{url}/v1/events", READ_KEY, batch) == 403
        assert call(f"{url}/v1/events", "wrong-key-guess-1234", batch) == 401
        assert call(f"{url}/v1/users/u-1/courses/c-1", READ_KEY) == 404
        assert call(f"{url}/v1/users/u-1/courses/c-1", token) == 404
        assert call(f"{url}/v1/events", old, other) == 403
        assert call(f"{url}/v1/events", token, batch) == 429  # burst of 2 used up
        for bad in (expired, foreign, unsigned, hs512):
            assert call(f"{url}/v1/users/u-1/courses/c-1", bad) == 401
    text = log.read_text()
    assert "request_refused" in text and "request_authenticated" in text  # debug was on
    canonical = [line for line in map(json.loads, filter(None, text.splitlines()))
                 if line["event"] == "request" and line["route"] != "/health"]
    assert len(canonical) == 12  # one per call above, whatever its credential
    assert {line["route"] for line in canonical} == {
        "/v1/events", "/v1/users/{user_id}/courses/{course_id}"}
    assert all(line["request_id"] for line in canonical)
    for secret in sent:
        assert secret not in text, f"a secret ({secret[:4]}…) was logged"
    for jwt in (t for t in sent if t.count(".") == 2):
        assert jwt.rsplit(".", 1)[1] not in text or not jwt.rsplit(".", 1)[1]
