"""Per-course rules the ingest needs (completion threshold, passing score), cached briefly.

While PostgreSQL is unreachable, rules already known keep being used (catalogs change rarely),
so ingest goes on taking events for those courses; a course never seen is answered 503.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import asyncpg
import structlog

from aggregator import catalog
from ingest.errors import Unavailable
from ingest.prepare import DEFAULT_RULES, CourseRules

log = structlog.get_logger()
LOOKUP_TIMEOUT_S = 1.0


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
            try:
                async with asyncio.timeout(LOOKUP_TIMEOUT_S), self._pool.acquire() as conn:
                    found = await catalog.progress_rules(conn, missing)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as e:
                return self._stale(out, missing, e)
            for cid in missing:
                rules = CourseRules(*found[cid]) if cid in found else DEFAULT_RULES
                self._entries[cid] = (now + self._ttl, rules)
                out[cid] = rules
        return out

    def _stale(
        self, out: dict[str, CourseRules], missing: list[str], error: Exception
    ) -> dict[str, CourseRules]:
        """PostgreSQL is away: keep using what was known, refuse (503) what never was."""
        unknown = [cid for cid in missing if cid not in self._entries]
        if unknown:
            log.warning("course_rules_unavailable", error=type(error).__name__, courses=unknown)
            raise Unavailable(
                "course rules cannot be read right now; retry later", code="catalog_unavailable"
            )
        for cid in missing:
            out[cid] = self._entries[cid][1]
        return out

    def forget(self, course_id: str) -> None:
        self._entries.pop(course_id, None)
