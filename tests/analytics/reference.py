"""Independent reference models of the learning-analytics rules, written from their definitions.

Nothing here is shared with the product code: sessions are cut from the full sorted list of a
learner's event times (no incremental joining), reports are counted day by day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class RefSession:
    started_ms: int
    ended_ms: int
    events: int
    time_ms: int
    courses: frozenset[str]
    chapters: frozenset[tuple[str, str]]


def ts_ms(ts: Any) -> int:
    if isinstance(ts, int):
        return ts
    return int(datetime.fromisoformat(ts).timestamp() * 1000)


def session_events(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per learner, their distinct events that sessions are made of (chapter events, quizzes)."""
    seen: dict[str, dict[str, Any]] = {}
    for e in events:
        seen.setdefault(e["id"], e)
    out: dict[str, list[dict[str, Any]]] = {}
    for e in seen.values():
        if e["type"].startswith("chapter_") or e["type"] == "quiz_attempt":
            out.setdefault(e["user_id"], []).append(e)
    return out


def reference_sessions(events: list[dict[str, Any]], gap_ms: int) -> dict[str, list[RefSession]]:
    """A learner's sessions: their events by time, cut where a gap exceeds ``gap_ms``."""
    out: dict[str, list[RefSession]] = {}
    for user, evs in session_events(events).items():
        evs = sorted(evs, key=lambda e: (ts_ms(e["ts"]), e["id"]))
        runs: list[list[dict[str, Any]]] = []
        for e in evs:
            if runs and ts_ms(e["ts"]) - ts_ms(runs[-1][-1]["ts"]) <= gap_ms:
                runs[-1].append(e)
            else:
                runs.append([e])
        out[user] = [
            RefSession(
                started_ms=ts_ms(run[0]["ts"]), ended_ms=ts_ms(run[-1]["ts"]), events=len(run),
                time_ms=sum(round(e.get("time_spent_s", 0) * 1000) for e in run
                            if e["type"] != "quiz_attempt"),
                courses=frozenset(e["course_id"] for e in run),
                chapters=frozenset((e["course_id"], e["chapter_id"]) for e in run
                                   if e["type"].startswith("chapter_")),
            )
            for run in runs
        ]
    return out


def day_of(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()


def longest_run(days: set[date]) -> int:
    best = 0
    for d in days:
        if d - timedelta(days=1) not in days:
            n = 1
            while d + timedelta(days=n) in days:
                n += 1
            best = max(best, n)
    return best
