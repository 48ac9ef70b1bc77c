"""Checks over the code itself: SQL only through parameters, tracebacks logged without locals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ["waymark", "ingest", "buffer", "workers", "aggregator", "monitoring", "devstack",
           "client_sdk/waymark_client"]


def test_no_product_code_builds_sql_from_strings() -> None:
    """ruff S608 (string-built SQL) over every product package, whatever the config ignores."""
    ruff = Path(sys.executable).parent / "ruff"
    done = subprocess.run(
        [str(ruff), "check", "--isolated", "--select", "S608", *PRODUCT],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_logged_traceback_carries_no_local_values() -> None:
    code = """
import structlog
from waymark.logs import configure_logging
from waymark.settings import Settings
configure_logging(Settings(log_format="json"))
def verify(token):
    secret = "local-secret-value-0123456789"
    raise ValueError("bad")
try:
    verify("eyJ-a-bearer-token")
except ValueError:
    structlog.get_logger().exception("failed")
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert "ValueError" in done.stderr and "verify" in done.stderr
    assert "local-secret-value" not in done.stderr and "eyJ-a-bearer-token" not in done.stderr


def test_waymark_config_prints_no_token_secret() -> None:
    from tests.security.conftest import OLD_TOKEN_SECRET, TOKEN_SECRET
    from waymark.cli import masked_settings
    from waymark.settings import Settings

    s = Settings.from_env({"WAYMARK_USER_TOKEN_SECRET": f"{TOKEN_SECRET},{OLD_TOKEN_SECRET}"})
    shown = " ".join(masked_settings(s).values()) + repr(s)
    assert TOKEN_SECRET not in shown and OLD_TOKEN_SECRET not in shown
