"""Whether a learner has ever completed a course, over every reset epoch.

A course counts once every required chapter has had a completing fact after the same reset (not
necessarily at once): there is an *epoch* — the events after one reset up to the next, by
``ts`` (a reset at T ends its epoch with the events at T, as progress does) — in which each
required chapter has one. Its moment is the earliest at which that holds in ``(ts, id)`` order:
per epoch the latest of the required chapters' first facts, the earliest such over the epochs.
Resets are every ``course_reset`` ever applied (``course_reset_history``), so a late reset or
completions from before a reset that arrive after it are judged in their own epoch; the facts are
the chapter event log decided under the course's rules (``aggregator.requirements``).

Read only for the (user, course) pairs whose batch brought a completing fact or a reset (and a
catalog recompute's pairs): a heartbeat batch reads nothing here.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Iterable, Mapping, Sequence

import msgspec

from aggregator.achievement_rules import Moment
from aggregator.catalog_rules import ChapterRule
from aggregator.db import Conn
from aggregator.requirements import decide, load_rules
from buffer.fold import COMPLETING, TailEvent

Pair = tuple[str, str]
ResetRow = tuple[str, str, str, int]
"""(user id, course id, event id, ts ms)."""

_STORE = """
INSERT INTO course_reset_history (user_id, course_id, event_id, ts)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[])
ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING
"""
_RESETS = """
WITH k AS (SELECT * FROM unnest($1::text[], $2::text[]) AS k(user_id, course_id))
SELECT h.user_id, h.course_id, h.ts FROM course_reset_history h JOIN k USING (user_id, course_id)
UNION ALL
SELECT cp.user_id, cp.course_id, (extract(epoch FROM cp.reset_at) * 1000)::int8
FROM course_progress cp JOIN k USING (user_id, course_id) WHERE cp.reset_at IS NOT NULL
"""
_LOG = """
WITH k AS (SELECT * FROM unnest($1::text[], $2::text[]) AS k(user_id, course_id))
SELECT l.user_id, l.course_id, l.chapter_id, l.events
FROM chapter_event_log l JOIN k USING (user_id, course_id)
JOIN course_chapters cc ON cc.course_id = l.course_id AND cc.chapter_id = l.chapter_id
WHERE cc.required
"""
_REQUIRED = """
SELECT course_id, chapter_id FROM course_chapters WHERE course_id = ANY($1::text[]) AND required
"""
_events = msgspec.msgpack.Decoder(list[TailEvent]).decode


def epoch_of(ts: int, resets: Sequence[int]) -> int:
    """How many of the (sorted) ``resets`` an event at ``ts`` comes after."""
    return bisect_left(resets, ts)


def chapter_facts(
    events: Iterable[TailEvent], rule: ChapterRule, resets: Sequence[int]
) -> list[Moment]:
    """The completing facts among a chapter's events under ``rule``, each epoch on its own
    (``min_time`` sums time from the epoch's start)."""
    by_epoch: dict[int, list[TailEvent]] = {}
    for e in events:
        by_epoch.setdefault(epoch_of(e.ts, resets), []).append(e)
    return [Moment(e.ts, e.id) for evs in by_epoch.values() for e in decide(evs, rule)
            if e.kind == COMPLETING]


def completed_moment(
    required: Collection[str], facts: Mapping[str, Iterable[Moment]], resets: Iterable[int]
) -> Moment | None:
    """When the course first counts as ever completed (see module docstring), or None."""
    if not required:
        return None
    bounds = sorted(set(resets))
    firsts: dict[int, dict[str, Moment]] = {}
    for chapter in required:
        for m in facts.get(chapter, ()):
            seen = firsts.setdefault(epoch_of(m.ts, bounds), {})
            if chapter not in seen or m < seen[chapter]:
                seen[chapter] = m
    done = [max(f.values()) for f in firsts.values() if len(f) == len(set(required))]
    return min(done, default=None)


async def store(conn: Conn, rows: Iterable[ResetRow]) -> None:
    """Keep each course reset of a batch once (by event id)."""
    ordered = sorted(set(rows))
    if ordered:
        await conn.execute(_STORE, *[[r[i] for r in ordered] for i in range(4)])


async def completed(conn: Conn, pairs: Iterable[Pair]) -> dict[Pair, Moment]:
    """The pairs ever completed over every reset epoch, with their moment (four reads)."""
    ps = sorted(set(pairs))
    if not ps:
        return {}
    cols = [p[0] for p in ps], [p[1] for p in ps]
    courses = sorted({c for _, c in ps})
    required: dict[str, set[str]] = {}
    for r in await conn.fetch(_REQUIRED, courses):
        required.setdefault(r["course_id"], set()).add(r["chapter_id"])
    resets: dict[Pair, list[int]] = {}
    for r in await conn.fetch(_RESETS, *cols):
        resets.setdefault((r[0], r[1]), []).append(r[2])
    logged: dict[Pair, dict[str, list[TailEvent]]] = {}
    for r in await conn.fetch(_LOG, *cols):
        logged.setdefault((r[0], r[1]), {}).setdefault(r[2], []).extend(_events(r["events"]))
    rules = await load_rules(conn, courses)
    out = {}
    for pair, chapters in logged.items():
        course_rules = rules.get(pair[1])
        if course_rules is None:  # no catalog: no required chapters to complete
            continue
        bounds = sorted(set(resets.get(pair, [])))
        facts = {ch: chapter_facts(evs, course_rules.of(ch), bounds)
                 for ch, evs in chapters.items()}
        at = completed_moment(required.get(pair[1], set()), facts, bounds)
        if at is not None:
            out[pair] = at
    return out
