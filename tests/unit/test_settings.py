"""Settings come from the environment once, with clear errors for unusable values."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from waymark.cli import main
from waymark.settings import Settings, SettingsError, parse_api_keys


def test_defaults_match_the_documented_ones() -> None:
    s = Settings.from_env({})
    assert (s.http_port, s.workers, s.merge_window_ms, s.flush_batch) == (8080, 2, 2000, 1000)
    assert (s.dedup_window_s, s.lease_s, s.max_events) == (3600, 30, 1000)
    assert s.redis_url is None and s.database_url is None
    assert (s.flush_min_keys, s.flush_linger_ms) == (250, 500)


def test_environment_overrides_are_typed() -> None:
    s = Settings.from_env({"WAYMARK_HTTP_PORT": "9000", "WAYMARK_MERGE_WINDOW_MS": "0",
                           "REDIS_URL": "redis://x",
                           "WAYMARK_API_KEYS": "a:top-secret:ingest+read"})
    assert (s.http_port, s.merge_window_ms, s.redis_url) == (9000, 0, "redis://x")
    assert Settings.from_env({"WAYMARK_FLUSH_LINGER_MS": "0"}).flush_linger_ms == 0
    assert s.api_keys[0].scopes == frozenset({"ingest", "read"})
    assert "top-secret" not in repr(s)


@pytest.mark.parametrize("env", [
    {"WAYMARK_HTTP_PORT": "eighty"},
    {"WAYMARK_WORKERS": "0"},
    {"WAYMARK_FLUSH_BATCH": "10000"},
    {"WAYMARK_FLUSH_MIN_KEYS": "600", "WAYMARK_FLUSH_BATCH": "500"},
    {"WAYMARK_FLUSH_MIN_KEYS": "0"},
    {"WAYMARK_MAX_EVENTS": "100000"},
    {"WAYMARK_LOG_FORMAT": "xml"},
    {"WAYMARK_API_KEYS": "name:secret:write"},
    {"WAYMARK_API_KEYS": "just-a-secret"},
])
def test_unusable_values_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(env)


def test_api_keys_parse_several_entries() -> None:
    keys = parse_api_keys("a:s1:ingest, b:s2:read+admin,")
    assert [(k.name, k.secret) for k in keys] == [("a", "s1"), ("b", "s2")]


ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED = sorted(set(re.findall(r"^\| `(WAYMARK_[A-Z0-9_]+)`",
                                   (ROOT / "README.md").read_text(), re.M)))
FREE_TEXT = {"WAYMARK_HTTP_HOST", "WAYMARK_DATA_DIR", "WAYMARK_EVENTS_STREAM",
             "WAYMARK_USER_TOKEN_AUDIENCE", "WAYMARK_CORS_ORIGINS", "WAYMARK_QUEUE_REDIS_URL"}
"""Variables whose value is any text; every other one is a number or a closed set."""


def test_the_readme_documents_every_variable_the_settings_read() -> None:
    read = set(re.findall(r'"(WAYMARK_[A-Z0-9_]+)"', (ROOT / "waymark" / "settings.py")
                          .read_text() + (ROOT / "waymark" / "logs.py").read_text()))
    assert read and read <= set(DOCUMENTED)


@pytest.mark.parametrize("var", [v for v in DOCUMENTED if v not in FREE_TEXT])
@pytest.mark.parametrize("bad", ["many", "-3", "1e999", "99999999999999999999", "7.5x"])
def test_a_bad_value_in_any_variable_exits_2_naming_it(
    var: str, bad: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``waymark`` itself, in process: exit code 2, the variable named, no traceback."""
    for name in DOCUMENTED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(var, bad)
    try:
        code = main(["config"])
    except SystemExit as e:  # pragma: no cover - what the test exists to catch
        raise AssertionError(f"{var}={bad!r} ended the CLI with SystemExit({e.code})") from e
    err = capsys.readouterr().err
    if code == 0:
        # a few values are legitimately usable (a huge burst, a 1e999 never is)
        assert bad in ("99999999999999999999",) and var not in PORT_VARIABLES, (var, bad)
        return
    assert code == 2 and var in err and "Traceback" not in err, (var, bad, err)


@pytest.fixture(autouse=True)
def logging_as_it_was() -> Iterator[None]:
    """``main`` configures logging for the process; give the suite its own back."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


PORT_VARIABLES = {"WAYMARK_HTTP_PORT", "WAYMARK_WORKER_METRICS_PORT", "WAYMARK_MONITOR_PORT"}


@pytest.mark.parametrize("var", sorted(PORT_VARIABLES))
def test_a_port_beyond_65535_is_refused(var: str) -> None:
    with pytest.raises(SettingsError, match=var):
        Settings.from_env({var: "70000"})
