"""The docs stand alone: every relative link and every file they name exists in the repository."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".venv", "node_modules", ".git", "build", "dist", ".pytest_cache", ".hypothesis"}
DOCS = sorted(p for p in ROOT.rglob("*.md")
              if not SKIP & set(p.relative_to(ROOT).parts) and "egg-info" not in str(p))
LINK = re.compile(r"\]\(([^)\s]+)\)")
RUNTIME = ("/", ".waymark/")
"""Routes (``/openapi.json``) and files Waymark writes when it runs, not files it ships."""
CITED = re.compile(r"`([A-Za-z0-9_./-]+\.(?:py|lua|sql|md|ts|mjs|json|yml|yaml|toml|sh))`")


def exists(doc: Path, target: str) -> bool:
    return (doc.parent / target).exists() or (ROOT / target).exists()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_at_a_file_of_the_repository(doc: Path) -> None:
    links = [m.group(1).split("#")[0] for m in LINK.finditer(doc.read_text())]
    broken = [t for t in links if t and "://" not in t and not t.startswith("mailto:")
              and not exists(doc, t)]
    assert broken == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_file_the_docs_name_exists(doc: Path) -> None:
    cited = {m.group(1) for m in CITED.finditer(doc.read_text())
             if "/" in m.group(1) and not m.group(1).startswith(RUNTIME)}
    missing = sorted(c for c in cited if not exists(doc, c)
                     and not any((ROOT / d / c).exists() for d in ("client_sdk", "benchmarks")))
    assert missing == []


def test_the_docs_cite_nothing_outside_the_repository() -> None:
    outside = [str(d.relative_to(ROOT)) for d in DOCS
               if re.search(r"SPEC\.md|LIMITS\.md|SPEC §|\.\./shared", d.read_text())]
    assert outside == []


def test_the_check_reads_the_docs() -> None:
    assert ROOT / "README.md" in DOCS and ROOT / "docs" / "api.md" in DOCS


def test_the_architecture_picture_is_drawn_from_its_source() -> None:
    """Every label of ``docs/img/architecture.dot`` is in the committed SVG: redraw after edits."""
    dot = (ROOT / "docs" / "img" / "architecture.dot").read_text()
    svg = html.unescape((ROOT / "docs" / "img" / "architecture.svg").read_text())
    labels = [line for m in re.finditer(r'label="([^"]+)"', dot)
              for line in m.group(1).split("\\n")]
    assert labels
    missing = [t for t in labels if t not in svg]
    assert missing == []


def test_the_benchmarks_readme_links_every_harness() -> None:
    readme = ROOT / "benchmarks" / "README.md"
    linked = {m.group(1) for m in LINK.finditer(readme.read_text())}
    harnesses = {p.name for p in (ROOT / "benchmarks").glob("*.py") if p.name != "__init__.py"}
    assert harnesses and harnesses - linked == set()
