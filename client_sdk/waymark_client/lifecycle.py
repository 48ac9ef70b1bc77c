"""Interpreter exit and ``fork()`` hooks for every live client.

The hooks are installed once, when the first client is made (never at import). Clients are held
weakly: a client the application dropped is not kept alive by the SDK.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from typing import Protocol


class ProcessAware(Protocol):
    def _before_fork(self) -> None: ...
    def _after_fork_in_parent(self) -> None: ...
    def _after_fork_in_child(self) -> None: ...
    def _at_exit(self) -> None: ...


# The one piece of process-wide state in the SDK: fork and exit hooks are process-wide, so the
# list of clients they act on has to be too.
_clients: weakref.WeakSet[ProcessAware] = weakref.WeakSet()
_install_lock = threading.Lock()
_installed = False


def register(client: ProcessAware) -> None:
    """Have ``client`` flushed at interpreter exit and reset in a child after ``fork()``."""
    global _installed
    with _install_lock:
        if not _installed:
            atexit.register(_at_exit)
            os.register_at_fork(
                before=_before_fork,
                after_in_parent=_after_fork_in_parent,
                after_in_child=_after_fork_in_child,
            )
            _installed = True
        _clients.add(client)


def _live() -> list[ProcessAware]:
    return list(_clients)


def _before_fork() -> None:
    for client in _live():
        client._before_fork()


def _after_fork_in_parent() -> None:
    for client in _live():
        client._after_fork_in_parent()


def _after_fork_in_child() -> None:
    for client in _live():
        client._after_fork_in_child()


def _at_exit() -> None:
    for client in _live():
        client._at_exit()
