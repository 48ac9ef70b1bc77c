"""Schemathesis against ``/openapi.json`` of a real ``waymark serve``, every check on.

The checks include server errors, responses that break their schema, schema-valid requests
refused, schema-breaking requests taken, missing or wrong auth accepted, and the stateful phase
that chains calls through the document's links. CI runs a few examples per operation with a fixed
seed; a longer run with a random seed is

    WAYMARK_FUZZ_EXAMPLES=200 WAYMARK_FUZZ_SEED=random .venv/bin/pytest tests/security/test_fuzz.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devstack.servers import free_port
from tests.conftest import ADMIN_KEY, API_KEYS
from tests.helpers import wait_http, waymark_process
from tests.security.conftest import TOKEN_SECRET

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def test_schemathesis_finds_no_failure_with_all_checks(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    examples = os.environ.get("WAYMARK_FUZZ_EXAMPLES", "25")
    seed = os.environ.get("WAYMARK_FUZZ_SEED", "20261122")
    command = [str(SCHEMATHESIS), "--no-color", "--config-file", str(CONFIG),
               "run", f"{url}/openapi.json",
               "--checks", "all", "--header", f"Authorization: Bearer {ADMIN_KEY}",
               "--max-examples", examples, "--request-timeout", "10"]
    if seed != "random":
        command += ["--seed", seed]
    log = tmp_path / "serve.log"
    with waymark_process("serve", log, REDIS_URL=redis_url, DATABASE_URL=database_url,
                         WAYMARK_API_KEYS=API_KEYS, WAYMARK_HTTP_PORT=str(port),
                         WAYMARK_USER_TOKEN_SECRET=TOKEN_SECRET,
                         WAYMARK_RATE_LIMIT_KEY_RPS="0", WAYMARK_LOG_LEVEL="warning") as proc:
        wait_http(f"{url}/health", proc)
        run = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    report = run.stdout[-20000:] + run.stderr[-5000:]
    assert run.returncode == 0, report
    assert "unique failures" not in report, report
    assert "Traceback" not in log.read_text(), log.read_text()[-5000:]
