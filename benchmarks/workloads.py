"""The two standard workloads, as batches of wire events (dicts), reproducible from a seed.

- ``heartbeat``: many learners, each sending a ``chapter_progress`` every 10 s of video with its
  position and time, in SDK-style batches; keys are visited round-robin over a large key space,
  so a key sees about one event per merge window — nearly one row written per event.
- ``burst``: the same learners replaying offline queues / scrubbing fast: a small key space,
  so every key sees many events per merge window (≥ 5 at the default rates).
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Workload:
    name: str
    users: int
    chapters: int
    batch: int
    duplicate_every: int = 0
    """Resend every n-th batch once more (0: never), like an SDK retry after a lost answer."""


WORKLOADS = {
    "heartbeat": Workload("heartbeat", users=50_000, chapters=8, batch=50),
    "burst": Workload("burst", users=400, chapters=4, batch=100),
}


def batches(w: Workload, client: int, clients: int) -> Iterator[list[dict[str, Any]]]:
    """Endless batches for load client ``client`` of ``clients`` (disjoint key ranges).

    Each client is one SDK installation: events carry its ``source_id`` and a growing ``seq``,
    which the buffer deduplicates by (a ring per source) instead of by event id.
    """
    source = f"{w.name}-{client}-{uuid.uuid4().hex[:12]}"
    keys = [(u, c) for u in range(client, w.users, clients) for c in range(w.chapters)]
    seq = itertools.count()
    cursor = itertools.cycle(keys)
    while True:
        now = int(time.time() * 1000)
        out = []
        for _ in range(w.batch):
            n = next(seq)
            user, chapter = next(cursor)
            out.append({
                "id": f"{source}-{n}", "source_id": source, "seq": n + 1,
                "type": "chapter_progress",
                "user_id": f"u{user}", "course_id": "c-1", "chapter_id": f"ch-{chapter}",
                "ts": now - 1000, "progress": float(n % 100), "position_s": float(n % 900),
                "time_spent_s": 10,
            })
        yield out
