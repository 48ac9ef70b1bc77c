"""The example systemd units in ``deploy/systemd`` are valid for systemd itself."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "deploy" / "systemd"
INSTALLED_AS = "/opt/waymark/venv/bin/waymark"


def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """Checked as installed, with this checkout's ``waymark`` where the units expect theirs."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing (Debian package systemd)", pytrace=False)
    waymark = Path(sys.executable).parent / "waymark"
    names = []
    for unit in sorted(UNITS.glob("waymark*.service")) + sorted(UNITS.glob("*.target")):
        text = unit.read_text().replace(INSTALLED_AS, str(waymark))
        text = text.replace("/etc/waymark/waymark.env", str(UNITS / "waymark.env.example"))
        name = unit.name.replace("@.", "@0.")  # a template is verified as an instance
        (tmp_path / name).write_text(text)
        names.append(name)
    assert {"waymark-serve@0.service", "waymark-worker@0.service", "waymark.target"} <= set(names)
    done = subprocess.run([analyze, "verify", "--man=no", *names], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Unknown" not in done.stderr and "not executable" not in done.stderr, done.stderr


def test_every_unit_runs_a_real_waymark_command() -> None:
    commands = {line.split()[1] for unit in UNITS.glob("*.service")
                for line in unit.read_text().splitlines() if line.startswith("ExecStart=")}
    assert commands == {"migrate", "serve", "worker", "monitor"}
