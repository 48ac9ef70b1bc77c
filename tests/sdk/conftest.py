from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from .stub import StubServer


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer().start()
    yield server
    server.stop()


@pytest.fixture
def dead_url() -> str:
    """A URL where nothing listens: the port was free a moment ago and is closed again."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"
