"""WAYMARK_ALERT_* and the monitor settings: typed, checked, exported for the rules."""

from __future__ import annotations

import pytest
from aiohttp import web

from ingest.alerts import AlertMonitor
from ingest.metrics import IngestMetrics
from monitoring import alerts as a
from waymark.settings import Settings, SettingsError


def test_thresholds_come_from_the_environment() -> None:
    s = Settings.from_env({"WAYMARK_ALERT_QUEUE_DEPTH": "5000",
                           "WAYMARK_ALERT_OLDEST_PENDING_S": "12.5",
                           "WAYMARK_ALERT_DEAD_LETTERS": "0",
                           "WAYMARK_MONITOR_INTERVAL_S": "1", "WAYMARK_MONITOR_PORT": "9999"})
    limits = a.thresholds(s)
    assert (limits[a.QUEUE_DEPTH], limits[a.OLDEST_PENDING], limits[a.DEAD_LETTERS]) == (
        5000, 12.5, 0)
    assert (s.monitor_interval_s, s.monitor_port) == (1.0, 9999)
    assert limits[a.HEARTBEAT] == Settings().alert_heartbeat_age_s  # untouched: the default


@pytest.mark.parametrize("env", [
    {"WAYMARK_ALERT_QUEUE_DEPTH": "lots"},
    {"WAYMARK_ALERT_LAG_P99_S": "-1"},
    {"WAYMARK_ALERT_INGEST_ERROR_RATE": "nan"},
    {"WAYMARK_MONITOR_INTERVAL_S": "inf"},
])
def test_an_unusable_threshold_is_refused_by_name(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match=next(iter(env))):
        Settings.from_env(env)


def test_the_thresholds_are_exported_for_the_prometheus_rules() -> None:
    metrics = IngestMetrics.create()
    settings = Settings(alert_heartbeat_age_s=7)
    AlertMonitor(settings, web.Application(), metrics)
    value = metrics.registry.get_sample_value(
        "waymark_alert_threshold", {"alert": a.HEARTBEAT})
    assert value == 7
