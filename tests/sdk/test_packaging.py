"""``waymark-client`` builds, installs and works without the server packages."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .stub import StubServer

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
def test_the_wheel_installs_alone_and_sends_events(tmp_path: Path, stub: StubServer) -> None:
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "-w", wheels, ROOT / "client_sdk")  # fmt: skip
    [wheel] = wheels.glob("waymark_client-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"waymark_client/client.py", "waymark_client/wire.py", "waymark_client/py.typed"} \
        <= names
    servers = ("waymark/", "ingest/", "workers/", "aggregator/", "buffer/", "monitoring/")
    assert not {n for n in names if n.startswith(servers)}

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    py = venv / "bin" / "python"
    run(py, "-m", "pip", "install", "-q", "msgspec", wheel)
    out = run(
        py,
        "-c",
        f"""
import importlib.util, waymark_client
from waymark_client import ProgressClient
assert importlib.util.find_spec("ingest") is None
assert importlib.util.find_spec("waymark") is None
assert importlib.util.find_spec("aiohttp") is None
assert importlib.util.find_spec("cryptography") is None  # HS256 tokens need only PyJWT
assert waymark_client.mint_user_token("s" * 32, "u").count(".") == 2
c = ProgressClient("k", base_url="{stub.url}")
print(c.viewed("u", "c"))
c.close()
""",
        cwd=tmp_path,
    )
    assert stub.ids() == out.split()


@pytest.mark.slow
def test_the_sdk_and_the_server_install_side_by_side_in_one_venv(tmp_path: Path) -> None:
    """The SDK's wheel and the server (editable) share a venv: each imports, neither overwrote
    the other, and the server validates with the installed SDK's wire schema."""
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    py = venv / "bin" / "python"
    run(py, "-m", "pip", "install", "-q", ROOT / "client_sdk")
    run(py, "-m", "pip", "install", "-q", "-e", ROOT)
    out = run(py, "-c", """
import waymark_client, waymark_client.wire, waymark.cli, ingest.prepare
print(waymark_client.__file__)
print(waymark.cli.__file__)
print(ingest.prepare.Event is waymark_client.wire.Event)
""", cwd=tmp_path)
    sdk_file, server_file, same_schema = out.split()
    assert sdk_file.startswith(str(venv)) and server_file == str(ROOT / "waymark" / "cli.py")
    assert same_schema == "True"
    files = run(py, "-m", "pip", "show", "-f", "waymark-client")
    assert not [f for f in files.split() if f.startswith(("waymark/", "ingest/"))]
    run(py, "-m", "pip", "check")
