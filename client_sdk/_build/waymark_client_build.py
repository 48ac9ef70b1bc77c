"""In-tree PEP 517 backend of ``waymark-client`` (standard library only).

Builds a pure-Python wheel of this folder as ``client_sdk`` plus ``waymark/__init__.py`` and
``waymark/wire.py``. In the repository the schema lives in ``../waymark``; an sdist carries a
copy under ``waymark/`` next to this folder's files, so a wheel builds from either.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILES = ("__init__.py", "wire.py")
SKIP_DIRS = {"_build", "__pycache__", "waymark", "build", "dist"}
# Fixed timestamp so two builds of the same tree are byte-identical.
EPOCH = (2020, 1, 1, 0, 0, 0)


def _project() -> dict[str, Any]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        project: dict[str, Any] = tomllib.load(f)["project"]
    return project


def _schema_dir() -> Path:
    for candidate in (ROOT / "waymark", ROOT.parent / "waymark"):
        if (candidate / "wire.py").is_file():
            return candidate
    raise FileNotFoundError("waymark/wire.py not found beside or above the client_sdk folder")


def _package_files() -> Iterator[tuple[str, Path]]:
    """(path in the wheel, file on disk), sorted."""
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel = Path(dirpath).relative_to(ROOT)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".py") or name == "py.typed":
                yield (Path("client_sdk") / rel / name).as_posix(), Path(dirpath) / name
    schema = _schema_dir()
    for name in SCHEMA_FILES:
        yield f"waymark/{name}", schema / name


def _metadata(project: Mapping[str, Any]) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project['description']}",
        f"Requires-Python: {project['requires-python']}",
        f"License: {project['license']['text']}",
    ]
    lines += [f"Requires-Dist: {dep}" for dep in project.get("dependencies", [])]
    for extra, deps in project.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {dep}; extra == "{extra}"' for dep in deps]
    readme = ROOT / str(project.get("readme", "README.md"))
    if readme.is_file():
        lines.append("Description-Content-Type: text/markdown")
        return "\n".join(lines) + "\n\n" + readme.read_text(encoding="utf-8")
    return "\n".join(lines) + "\n"


def _dist_name(project: Mapping[str, Any]) -> str:
    return f"{project['name'].replace('-', '_')}-{project['version']}"


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(
    wheel_directory: str,
    config_settings: Mapping[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    project = _project()
    dist = _dist_name(project)
    filename = f"{dist}-py3-none-any.whl"
    entries: list[tuple[str, bytes]] = [(arc, path.read_bytes()) for arc, path in _package_files()]
    info = f"{dist}.dist-info"
    entries += [
        (f"{info}/METADATA", _metadata(project).encode()),
        (
            f"{info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: waymark_client_build\n"
            b"Root-Is-Purelib: true\nTag: py3-none-any\n",
        ),
        (f"{info}/top_level.txt", b"client_sdk\nwaymark\n"),
    ]
    record = "".join(f"{arc},{_digest(data)},{len(data)}\n" for arc, data in entries)
    record += f"{info}/RECORD,,\n"
    entries.append((f"{info}/RECORD", record.encode()))
    with zipfile.ZipFile(Path(wheel_directory) / filename, "w", zipfile.ZIP_DEFLATED) as whl:
        for arc, data in entries:
            zinfo = zipfile.ZipInfo(arc, EPOCH)
            zinfo.external_attr = 0o644 << 16
            whl.writestr(zinfo, data, zipfile.ZIP_DEFLATED)
    return filename


def build_sdist(sdist_directory: str, config_settings: Mapping[str, Any] | None = None) -> str:
    project = _project()
    dist = _dist_name(project)
    members: list[tuple[str, bytes]] = [
        ("pyproject.toml", (ROOT / "pyproject.toml").read_bytes()),
        ("_build/waymark_client_build.py", Path(__file__).read_bytes()),
        ("PKG-INFO", _metadata(project).encode()),
    ]
    if (ROOT / "README.md").is_file():
        members.append(("README.md", (ROOT / "README.md").read_bytes()))
    for arc, path in _package_files():
        # client_sdk/x.py is at the root of this folder; the schema goes to waymark/ beside it.
        members.append((arc.removeprefix("client_sdk/"), path.read_bytes()))
    filename = f"{dist}.tar.gz"
    with tarfile.open(Path(sdist_directory) / filename, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for arc, data in members:
            tinfo = tarfile.TarInfo(f"{dist}/{arc}")
            tinfo.size, tinfo.mode, tinfo.mtime = len(data), 0o644, 1577836800
            tar.addfile(tinfo, io.BytesIO(data))
    return filename


def get_requires_for_build_wheel(config_settings: Mapping[str, Any] | None = None) -> list[str]:
    return []


def get_requires_for_build_sdist(config_settings: Mapping[str, Any] | None = None) -> list[str]:
    return []
