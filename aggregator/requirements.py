"""Completion by requirement: which of a chapter's events complete it, under the catalog now.

Ingest marks a ``chapter_progress`` completing against the threshold it knew; the apply step
re-decides every event with :func:`decide` under the course's current rules before merging, and
a catalog change rebuilds each chapter from its event log the same way, so the buffer, the apply
step and a recompute agree and a changed threshold or requirement re-decides stored chapters.

- ``complete`` (default): ``chapter_completed``, and ``chapter_progress`` with progress ≥ the
  course's ``completion_threshold``.
- ``view``: every chapter event but an uncomplete completes it, a view (``V``: a
  ``course_viewed`` naming the chapter) included. Under every other requirement a view stays a
  ``V``, which the fold ignores: it changes neither progress, time nor completion.
- ``min_time``: the event whose running sum of time (in (ts, id) order, after the reset) reaches
  N completes it, and so does every later one (an uncomplete is undone by the next event).
  It needs the chapter's whole history: such a chapter is always rebuilt from its log.
- ``min_score``: no chapter event completes it; its completing fact is the earliest counted
  attempt (after the reset, in (ts, attempt id) order) of its quiz whose authoritative percent
  reaches P (:func:`score_facts`), and the chapter is rebuilt whenever that quiz is reassessed.

An uncomplete keeps its meaning under every requirement. Events are the fold's ``TailEvent``s:
a ``chapter_progress`` carries its progress (≥ 0), a ``chapter_completed`` carries -1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import msgspec

from aggregator.catalog_rules import ChapterRule, Requirement, chapter_rule
from aggregator.db import Conn
from buffer.fold import COMPLETING, NONE_TS, PROGRESS, UNCOMPLETE, VIEWED, TailEvent

DEFAULT = ChapterRule()


@dataclass(frozen=True, slots=True)
class CourseRules:
    """A course's completion rules: its threshold and every chapter's non-default rule."""

    threshold: float = 100.0
    chapters: Mapping[str, ChapterRule] = field(default_factory=dict)
    default: ChapterRule = field(init=False, repr=False, compare=False)
    """The rule of every chapter without one of its own (built once, not per chapter)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "default", ChapterRule("complete", self.threshold))

    def of(self, chapter_id: str) -> ChapterRule:
        return self.chapters.get(chapter_id) or self.default


NO_RULES = CourseRules()
"""The rules of a course without a catalog."""


def needs_history(rule: ChapterRule) -> bool:
    """Does deciding under ``rule`` need every event of the chapter (not only new ones)?"""
    return rule.kind in ("min_time", "min_score")


def takes_quiz_facts(rule: ChapterRule) -> bool:
    """Does the quiz's derived completing fact count for a chapter under ``rule``?"""
    return rule.kind == "complete"


def _as(ev: TailEvent, kind: str) -> TailEvent:
    return ev if ev.kind == kind else msgspec.structs.replace(ev, kind=kind)


def decide(events: Iterable[TailEvent], rule: ChapterRule) -> list[TailEvent]:
    """``events`` with each completing or not under ``rule`` (see module docstring).

    For ``min_time`` the events must be the chapter's whole history after its reset.
    """
    evs = list(events)
    if rule.kind == "complete":
        return [e if e.kind == UNCOMPLETE or e.progress < 0
                else _as(e, COMPLETING if e.progress >= rule.value else PROGRESS) for e in evs]
    if rule.kind == "view":
        return [e if e.kind == UNCOMPLETE else _as(e, COMPLETING) for e in evs]
    if rule.kind == "min_score":
        return [e if e.kind in (UNCOMPLETE, VIEWED) else _as(e, PROGRESS) for e in evs]
    out, total, reached = [], 0, False
    seen: set[str] = set()
    for e in sorted(evs, key=lambda e: (e.ts, e.id)):
        if e.id in seen:
            continue
        seen.add(e.id)
        if e.kind not in (UNCOMPLETE, VIEWED):
            total += e.time_ms
            reached = reached or total >= rule.value
            e = _as(e, COMPLETING if reached else PROGRESS)
        out.append(e)
    return out


_RULES = """
SELECT c.course_id, c.completion_threshold, cc.chapter_id, cc.requirement::text AS requirement
FROM courses c
LEFT JOIN course_chapters cc ON cc.course_id = c.course_id AND cc.requirement IS NOT NULL
WHERE c.course_id = ANY($1::text[])
"""
_requirement = msgspec.json.Decoder(Requirement).decode


async def load_rules(conn: Conn, course_ids: Iterable[str]) -> dict[str, CourseRules]:
    """The completion rules of each course in ``course_ids`` that has a catalog (one query)."""
    ids = sorted(set(course_ids))
    if not ids:
        return {}
    thresholds: dict[str, float] = {}
    chapters: dict[str, dict[str, ChapterRule]] = {}
    for r in await conn.fetch(_RULES, ids):
        course, threshold = r["course_id"], r["completion_threshold"]
        thresholds[course] = threshold
        if r["chapter_id"] is not None:
            rule = chapter_rule(_requirement(r["requirement"]), threshold)
            chapters.setdefault(course, {})[r["chapter_id"]] = rule
    return {c: CourseRules(t, chapters.get(c, {})) for c, t in thresholds.items()}


_SCORED = """
SELECT q.user_id, q.course_id, q.quiz_id, q.event_id, q.attempt_id, q.percent,
       (extract(epoch FROM q.ts) * 1000)::int8 AS ts_ms
FROM quiz_attempts q
JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(user_id, course_id, quiz_id)
  USING (user_id, course_id, quiz_id)
WHERE q.status = 'counted'
"""
QuizKey = tuple[str, str, str]
ChapterKey = tuple[str, str, str]


def scored_chapters(
    rules: Mapping[str, CourseRules], quiz_keys: Iterable[QuizKey]
) -> set[ChapterKey]:
    """The ``min_score`` chapters of the quizzes in ``quiz_keys`` (user, course, quiz)."""
    out = set()
    for user, course, quiz in quiz_keys:
        r = rules.get(course)
        if r is not None:
            out |= {(user, course, cid) for cid, rule in r.chapters.items()
                    if rule.kind == "min_score" and rule.quiz_id == quiz}
    return out


async def chapters_scored(conn: Conn, quiz_keys: Iterable[QuizKey]) -> set[ChapterKey]:
    """:func:`scored_chapters` with the rules of the quizzes' courses read (none: no query)."""
    ks = set(quiz_keys)
    return scored_chapters(await load_rules(conn, {k[1] for k in ks}), ks) if ks else set()


async def score_facts(
    conn: Conn, keys: Mapping[ChapterKey, ChapterRule]
) -> dict[ChapterKey, list[TailEvent]]:
    """Each ``min_score`` chapter's completing fact (empty when none reaches P)."""
    wanted = {k: r for k, r in keys.items() if r.kind == "min_score" and r.quiz_id}
    if not wanted:
        return {}
    qk = sorted({(k[0], k[1], str(r.quiz_id)) for k, r in wanted.items()})
    found: dict[QuizKey, list[tuple[int, str, str, float]]] = {}
    for r in await conn.fetch(_SCORED, *[[q[i] for q in qk] for i in range(3)]):
        found.setdefault((r[0], r[1], r[2]), []).append(
            (r["ts_ms"], r["attempt_id"], r["event_id"], r["percent"] or 0.0))
    out: dict[ChapterKey, list[TailEvent]] = {}
    for k, rule in wanted.items():
        passing = sorted(a for a in found.get((k[0], k[1], str(rule.quiz_id)), [])
                         if a[3] >= rule.value)
        out[k] = [TailEvent(passing[0][0], passing[0][2], COMPLETING, -1.0, 0, -1.0)
                  ] if passing else []
    return out


def after_reset(events: Iterable[TailEvent], reset_ts: int) -> list[TailEvent]:
    return [e for e in events if reset_ts == NONE_TS or e.ts > reset_ts]
