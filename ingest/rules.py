"""Per-course rules the ingest needs (completion threshold, passing score), cached briefly."""

from __future__ import annotations

import time
from collections.abc import Iterable

import asyncpg

from ingest.prepare import DEFAULT_RULES, CourseRules


class CourseRulesCache:
    """Catalog rules by course id, each entry kept ``ttl_s`` (misses too: no catalog yet)."""

    def __init__(self, pool: asyncpg.Pool, ttl_s: float) -> None:
        self._pool = pool
        self._ttl = ttl_s
        self._entries: dict[str, tuple[float, CourseRules]] = {}

    async def get(self, course_ids: Iterable[str]) -> dict[str, CourseRules]:
        now = time.monotonic()
        out: dict[str, CourseRules] = {}
        missing: list[str] = []
        for cid in set(course_ids):
            hit = self._entries.get(cid)
            if hit is not None and hit[0] > now:
                out[cid] = hit[1]
            else:
                missing.append(cid)
        if missing:
            rows = await self._pool.fetch(
                "SELECT course_id, completion_threshold, passing_score FROM courses"
                " WHERE course_id = ANY($1::text[])",
                missing,
            )
            found = {
                r["course_id"]: CourseRules(r["completion_threshold"], r["passing_score"])
                for r in rows
            }
            for cid in missing:
                rules = found.get(cid, DEFAULT_RULES)
                self._entries[cid] = (now + self._ttl, rules)
                out[cid] = rules
        return out

    def forget(self, course_id: str) -> None:
        self._entries.pop(course_id, None)
