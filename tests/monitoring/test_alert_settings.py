"""WAYMARK_ALERT_* and the monitor settings: typed, checked, exported for the rules."""

from __future__ import annotations

import pytest

from monitoring import alerts as a
from tests.monitoring.conftest import sample
from tests.security.conftest import serve
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


async def test_the_thresholds_are_exported_for_the_prometheus_rules(settings: Settings) -> None:
    async with await serve(settings.replace(alert_heartbeat_age_s=7)) as client:
        text = await (await client.get("/metrics")).text()
    assert sample(text, "waymark_alert_threshold", alert=a.HEARTBEAT) == 7
