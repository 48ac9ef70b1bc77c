"""Building events and batches in tests."""

from __future__ import annotations

import itertools
import time
from typing import Any

from tests.conftest import ADMIN_KEY

_ids = itertools.count(1)


def now_ms() -> int:
    return int(time.time() * 1000)


def event(type_: str, **fields: Any) -> dict[str, Any]:
    """A valid event of ``type_`` with defaults for the common fields."""
    ev: dict[str, Any] = {
        "id": f"ev-{next(_ids)}",
        "type": type_,
        "user_id": "u-1",
        "course_id": "c-1",
        "ts": now_ms() - 60_000,
    }
    ev.update(fields)
    return ev


def auth(key: str = ADMIN_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


CATALOG = {
    "title": "Python 101",
    "modules": [
        {"module_id": "m1", "title": "Basics", "chapters": [
            {"chapter_id": "ch-1", "weight": 1},
            {"chapter_id": "ch-2", "weight": 1},
        ]},
        {"module_id": "m2", "title": "More", "chapters": [
            {"chapter_id": "ch-3", "weight": 2},
            {"chapter_id": "ch-4", "weight": 1, "required": False},
        ]},
    ],
}
