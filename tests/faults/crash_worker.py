"""A worker process that dies at a chosen point of applying a batch (``python -m`` this).

``after_commit`` (the default): between a batch's commit and its acknowledgement, so the batch
is in PostgreSQL but still leased in Redis and comes back; the ledger must keep it from
counting twice. ``during_rebuild``: inside the apply transaction, as it recomputes a chapter
from the event log (a late reset or uncomplete), so PostgreSQL rolls the transaction back and
the batch comes back whole.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from aggregator import chapters
from waymark.logs import configure_logging
from waymark.settings import Settings
from workers.main import run


def crash(*_: Any) -> Any:
    os._exit(137)


if __name__ == "__main__":
    settings = Settings.from_env()
    configure_logging(settings)
    if sys.argv[1:] == ["during_rebuild"]:
        chapters.rebuild_chapter = crash
        run(settings)
    else:
        run(settings, after_commit=crash)
