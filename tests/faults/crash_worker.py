"""A worker process that dies between a batch's commit and its acknowledgement.

The fault tests run it in place of ``waymark worker``: the batch is in PostgreSQL but still
leased in Redis, so it is delivered again and the ledger must keep it from counting twice.
"""

from __future__ import annotations

import os

from waymark.logs import configure_logging
from waymark.settings import Settings
from workers.main import run


def crash() -> None:
    os._exit(137)


if __name__ == "__main__":
    settings = Settings.from_env()
    configure_logging(settings)
    run(settings, after_commit=crash)
