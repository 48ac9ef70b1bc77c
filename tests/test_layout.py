"""The packages keep one owner each and their imports flow one way.

``waymark_client`` (the SDK, with the wire schema) imports nothing of the server; the buffer
nothing but the schema's neighbours; ``ingest`` writes to the buffer and reads through the
aggregator; ``workers`` drain the buffer into the aggregator; ``monitoring`` sits beside and
reads both; the dev stack and the CLI sit on top, and nothing imports the CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "waymark_client": ROOT / "client_sdk" / "waymark_client",
    "buffer": ROOT / "buffer",
    "aggregator": ROOT / "aggregator",
    "monitoring": ROOT / "monitoring",
    "ingest": ROOT / "ingest",
    "workers": ROOT / "workers",
    "devstack": ROOT / "devstack",
    "waymark": ROOT / "waymark",
}
LOW = {"waymark.settings", "waymark.logs", "waymark.bootstrap"}
"""The parts of ``waymark`` every process shares; the rest of it is the entry point."""
ALLOWED: dict[str, set[str]] = {
    "waymark_client": set(),
    "buffer": set(),
    "aggregator": {"buffer", "waymark_client"},
    "monitoring": {"buffer", "aggregator", "waymark_client"} | LOW,
    "ingest": {"waymark_client", "buffer", "aggregator", "monitoring"} | LOW,
    "workers": {"buffer", "aggregator", "monitoring"} | LOW,
    "devstack": {"aggregator"} | LOW,
    "waymark": set(PACKAGES),
}
MAX_LINES = 400


def imports_of(package: str) -> set[tuple[str, str]]:
    """(file, imported module) for every import of another product package in ``package``."""
    found = set()
    for path in PACKAGES[package].rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in PACKAGES and top != package:
                    found.add((str(path.relative_to(ROOT)), name))
    return found


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_a_package_imports_only_what_lies_below_it(package: str) -> None:
    allowed = ALLOWED[package]
    wrong = sorted((f, m) for f, m in imports_of(package)
                   if m not in allowed and m.split(".")[0] not in allowed)
    assert wrong == []


def test_the_arrows_are_measured_at_all() -> None:
    """Guards the check above against a parser that finds nothing."""
    assert ("workers/main.py", "aggregator.recompute") in imports_of("workers")
    assert any(m == "waymark_client.wire" for _, m in imports_of("ingest"))


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_product_file_grows_past_400_lines(package: str) -> None:
    long = {str(p.relative_to(ROOT)): n for p in PACKAGES[package].rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
