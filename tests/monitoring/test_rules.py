"""The Prometheus rules pass ``promtool check rules`` and their unit tests."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.monitoring.conftest import RULES, RULES_TEST


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.geteuid() != 0:
            pytest.skip("promtool is missing (`make install` as root installs prometheus)")
        raise AssertionError("promtool is missing; `make install` installs it")
    return path


def test_the_alerting_rules_are_valid() -> None:
    out = subprocess.run([promtool(), "check", "rules", str(RULES)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_alerting_rules_pass_their_promtool_unit_tests() -> None:
    out = subprocess.run([promtool(), "test", "rules", RULES_TEST.name], cwd=RULES_TEST.parent,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_example_prometheus_configuration_is_valid() -> None:
    config = RULES.parent / "prometheus.yml"
    out = subprocess.run([promtool(), "check", "config", config.name], cwd=config.parent,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "9464" in config.read_text()  # the HTTP server's own metrics listener
