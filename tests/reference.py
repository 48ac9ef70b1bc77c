"""The merge and rollup rules read directly over a set of distinct events: the reference model.

Written independently of ``buffer.fold``: it sees every event at once and applies the
definitions literally, so any order, duplication or batching in the pipeline must end here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NEG = (-1, "")


@dataclass(frozen=True)
class RefChapter:
    progress: float
    completed: bool
    completed_at: int | None
    position_s: float | None
    time_ms: int
    first_ts: int | None
    last_ts: int | None


def _key(ev: dict[str, Any]) -> tuple[int, str]:
    return (ev["ts"], ev["id"])


def _passed(ev: dict[str, Any], passing: float) -> bool:
    if ev.get("passed") is not None:
        return bool(ev["passed"])
    return 100 * ev["score"] / ev["max_score"] >= passing


def quiz_facts(
    distinct: list[dict[str, Any]], user: str, course: str, reset: int, passing: float
) -> set[str]:
    """Event ids of each quiz's one completing fact: its earliest passing attempt after the
    reset (no limits, no cooldown), the attempt being the smallest (ts, id) of its attempt_id."""
    attempts: dict[str, dict[str, Any]] = {}
    for e in sorted(distinct, key=_key):
        if e["type"] == "quiz_attempt" and e["user_id"] == user:
            attempts.setdefault(e["attempt_id"], e)
    first: dict[str, dict[str, Any]] = {}
    for e in sorted(attempts.values(), key=lambda e: (e["ts"], e["attempt_id"])):
        if e["course_id"] == course and e["ts"] > reset and _passed(e, passing):
            first.setdefault(e["quiz_id"], e)
    return {e["id"] for e in first.values()}


def scored_attempt(
    distinct: list[dict[str, Any]], user: str, course: str, reset: int, p: float, quiz: str
) -> list[dict[str, Any]]:
    """A min_score chapter's completing fact: the earliest attempt of ``quiz`` after the reset
    (the smallest (ts, id) of its attempt_id) whose percent reaches ``p``, as a list."""
    attempts: dict[str, dict[str, Any]] = {}
    for e in sorted(distinct, key=_key):
        if e["type"] == "quiz_attempt" and e["user_id"] == user:
            attempts.setdefault(e["attempt_id"], e)
    ok = [e for e in attempts.values() if (e["course_id"], e["quiz_id"]) == (course, quiz)
          and e["ts"] > reset and 100 * e["score"] / e["max_score"] >= p]
    return [min(ok, key=lambda e: (e["ts"], e["attempt_id"]))] if ok else []


def chapter_state(
    events: list[dict[str, Any]], user: str, course: str, chapter: str,
    threshold: float = 100, passing: float = 70, requirement: tuple[Any, ...] | None = None,
) -> RefChapter:
    """``requirement``: None (complete), ("view", 0), ("min_time_s", N) or
    ("min_score", P, quiz_id). A ``course_viewed`` naming the chapter is one of its events
    only under ``view`` (which it completes); elsewhere it changes nothing."""
    distinct = {e["id"]: e for e in events}.values()
    resets = [e["ts"] for e in distinct
              if e["type"] == "course_reset" and (e["user_id"], e["course_id"]) == (user, course)]
    reset = max(resets, default=-1)
    mine = [e for e in distinct
            if (e["user_id"], e["course_id"], e.get("chapter_id")) == (user, course, chapter)
            and e["ts"] > reset]
    facts = quiz_facts(list(distinct), user, course, reset, passing)
    kind = requirement[0] if requirement else "complete"
    chapter_events = [e for e in mine if e["type"] in
                      ("chapter_progress", "chapter_completed", "chapter_uncompleted")
                      or (e["type"] == "quiz_attempt" and e["id"] in facts
                          and requirement is None)
                      or (e["type"] == "course_viewed" and kind == "view")]
    if kind == "min_score":
        assert requirement is not None
        chapter_events += scored_attempt(list(distinct), user, course, reset, *requirement[1:])
    def reached(e: dict[str, Any]) -> bool:  # min_time_s: the running sum up to e reaches N
        assert requirement is not None
        upto = [x for x in chapter_events if _key(x) <= _key(e)]
        return sum(round(x.get("time_spent_s", 0) * 1000) for x in upto) >= requirement[1] * 1000
    def completing(e: dict[str, Any]) -> bool:
        if kind == "view":
            return e["type"] != "chapter_uncompleted"
        if kind == "min_time_s":
            return e["type"] != "chapter_uncompleted" and reached(e)
        if kind == "min_score":
            return e["type"] == "quiz_attempt"
        return (e["type"] == "chapter_completed"
                or (e["type"] == "chapter_progress" and e["progress"] >= threshold)
                or e["type"] == "quiz_attempt")
    uncompletes = [_key(e) for e in chapter_events if e["type"] == "chapter_uncompleted"]
    last_u = max(uncompletes, default=NEG)
    after_u = [e for e in chapter_events if _key(e) > last_u]
    completions = [e for e in after_u if completing(e)]
    completed = bool(completions)
    prog = max((e["progress"] for e in after_u if e["type"] == "chapter_progress"), default=0.0)
    with_pos = [e for e in chapter_events if e.get("position_s") is not None]
    pos = max(with_pos, key=_key)["position_s"] if with_pos else None
    time_ms = sum(round(e.get("time_spent_s", 0) * 1000) for e in chapter_events
                  if e["type"] in ("chapter_progress", "chapter_completed"))
    tss = [e["ts"] for e in chapter_events]
    return RefChapter(
        progress=100.0 if completed else float(prog),
        completed=completed,
        completed_at=min(e["ts"] for e in completions) if completed else None,
        position_s=pos,
        time_ms=time_ms,
        first_ts=min(tss) if tss else None,
        last_ts=max(tss) if tss else None,
    )


def course_percent(
    chapters: dict[str, RefChapter], catalog: list[tuple[str, float, bool]]
) -> float:
    """Course percent over catalog (chapter_id, weight, required)."""
    req = [(cid, w) for cid, w, r in catalog if r]
    total = sum(w for _, w in req)
    done = sum(w for cid, w in req if cid in chapters and chapters[cid].completed)
    return round(100 * done / total, 2) if total else 0.0


# The enrollment lifecycle: history, drops and the records whose only facts are uncompletes.


def enrollment_history(
    events: list[dict[str, Any]], user: str, course: str
) -> list[tuple[str, int]]:
    """(status, ts) of every distinct enrollment event, in (ts, id) order."""
    distinct = {e["id"]: e for e in events}.values()
    mine = [e for e in distinct if e["type"] == "enrollment"
            and (e["user_id"], e["course_id"]) == (user, course)]
    return [(e["status"], e["ts"]) for e in sorted(mine, key=_key)]


def course_visible(events: list[dict[str, Any]], user: str, course: str) -> bool:
    """A (user, course) is shown once it has any event other than a chapter_uncompleted."""
    return any((e["user_id"], e["course_id"]) == (user, course)
               and e["type"] != "chapter_uncompleted" for e in events)


@dataclass(frozen=True)
class RefCourse:
    visible: bool
    enrollment_status: str | None
    percent: float | None
    status: str
    chapters: dict[str, RefChapter]

    @property
    def active(self) -> bool:
        return self.visible and self.enrollment_status != "dropped"


def course_state(
    events: list[dict[str, Any]], user: str, course: str, chapter_ids: list[str],
    catalog: list[tuple[str, float, bool]] | None,
) -> RefCourse | None:
    """The course record of (user, course), or None when no event ever named it."""
    if not any((e["user_id"], e["course_id"]) == (user, course) for e in events):
        return None
    chapters = {ch: chapter_state(events, user, course, ch) for ch in chapter_ids}
    history = enrollment_history(events, user, course)
    percent = None if catalog is None else course_percent(chapters, catalog)
    started = any(c.first_ts is not None for c in chapters.values())
    status = ("completed" if percent == 100 else "in_progress" if started else "not_started")
    return RefCourse(
        visible=course_visible(events, user, course),
        enrollment_status=history[-1][0] if history else None,
        percent=percent, status=status, chapters=chapters,
    )


def user_course_counts(courses: list[RefCourse]) -> dict[str, float]:
    """The summary's course figures: over active (visible, not dropped) records only."""
    active = [c for c in courses if c.active]
    pcts = [c.percent for c in active if c.percent is not None]
    return {
        "courses_total": len(active),
        "courses_completed": sum(c.status == "completed" for c in active),
        "courses_in_progress": sum(c.status == "in_progress" for c in active),
        "avg_progress": round(sum(pcts) / len(pcts), 2) if pcts else 0.0,
        "chapters_completed": sum(ch.completed for c in courses for ch in c.chapters.values()),
    }


# Learning paths: visible, active course records only.


def path_state(
    courses: list[tuple[str, bool]], sequential: bool, records: dict[str, RefCourse | None]
) -> dict[str, Any] | None:
    """A learner's progress on a path of (course_id, required), or None when they are not on
    it: only a visible record that is not dropped puts them on it. A dropped course is shown
    ``dropped`` and is not completed; an invisible record counts as no record."""
    shown = {c: r for c, r in records.items() if r is not None and r.visible}
    if not any(r.active for r in shown.values()):
        return None
    done = {c for c, r in shown.items() if r.active and r.status == "completed"}
    required = [c for c, req in courses if req]
    percent = round(100 * len(done & set(required)) / len(required), 2) if required else 100.0
    started = any(r.active and r.status != "not_started" for r in shown.values())
    states, blocked = [], False
    for c, req in courses:
        r = shown.get(c)
        states.append("dropped" if r is not None and not r.active else
                      "completed" if c in done else
                      "locked" if sequential and blocked else
                      "in_progress" if r is not None and r.status != "not_started" else
                      "available")
        blocked = blocked or (req and c not in done)
    status = "completed" if percent == 100 else "in_progress" if started else "not_started"
    current = None if status == "completed" else next((c for c in required if c not in done), None)
    return {"percent_complete": percent, "status": status, "current_course_id": current,
            "states": states}
