"""Monitoring tests: the shared app and pipeline, with a fast monitor and small thresholds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from waymark.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "monitoring" / "prometheus" / "alerts.yml"
RULES_TEST = ROOT / "monitoring" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "monitoring" / "grafana" / "waymark.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"),
            "gauge": ("",), "summary": ("_count", "_sum", "")}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(monitor_interval_s=0.1, alert_window_s=60.0)


def exported_names(exposition: str) -> set[str]:
    """Every series name an exposition can carry, from its ``# TYPE`` lines."""
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.M):
        base = name.removesuffix("_total") if kind == "counter" else name
        names.update(base + suffix for suffix in SUFFIXES.get(kind, ("",)))
    return names


def sample(exposition: str, name: str, **labels: str) -> float:
    """The value of one sample of an exposition (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0
