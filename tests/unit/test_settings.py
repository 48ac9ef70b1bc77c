"""Settings come from the environment once, with clear errors for unusable values."""

from __future__ import annotations

import pytest

from waymark.settings import Settings, SettingsError, parse_api_keys


def test_defaults_match_the_documented_ones() -> None:
    s = Settings.from_env({})
    assert (s.http_port, s.workers, s.merge_window_ms, s.flush_batch) == (8080, 2, 2000, 1000)
    assert (s.dedup_window_s, s.lease_s, s.max_events) == (3600, 30, 1000)
    assert s.redis_url is None and s.database_url is None


def test_environment_overrides_are_typed() -> None:
    s = Settings.from_env({"WAYMARK_HTTP_PORT": "9000", "WAYMARK_MERGE_WINDOW_MS": "0",
                           "REDIS_URL": "redis://x",
                           "WAYMARK_API_KEYS": "a:top-secret:ingest+read"})
    assert (s.http_port, s.merge_window_ms, s.redis_url) == (9000, 0, "redis://x")
    assert s.api_keys[0].scopes == frozenset({"ingest", "read"})
    assert "top-secret" not in repr(s)


@pytest.mark.parametrize("env", [
    {"WAYMARK_HTTP_PORT": "eighty"},
    {"WAYMARK_WORKERS": "0"},
    {"WAYMARK_FLUSH_BATCH": "10000"},
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
