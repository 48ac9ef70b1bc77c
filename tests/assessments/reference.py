"""A literal reading of the assessment rules over a set of distinct events: the model the
pipeline must match. Written apart from ``aggregator.assessment``: it sees every event at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RefQuiz:
    statuses: dict[str, tuple[str, bool]]
    """attempt_id -> (status, passed)"""
    counted: int
    passed: bool
    attempts_left: int | None
    kept_percent: float | None
    fact: tuple[int, str] | None
    """(ts, event id) of the earliest counted passing attempt."""


def assess(
    events: list[dict[str, Any]], user: str, course: str, quiz: str, *,
    max_attempts: int | None, cooldown_ms: int, passing: float, scoring: str,
) -> RefQuiz:
    distinct = list({e["id"]: e for e in events}.values())
    reset = max((e["ts"] for e in distinct if e["type"] == "course_reset"
                 and (e["user_id"], e["course_id"]) == (user, course)), default=-1)
    # an attempt is the smallest (ts, id) event of its (user, attempt_id), across courses
    attempt: dict[str, dict[str, Any]] = {}
    for e in distinct:
        if e["type"] != "quiz_attempt" or e["user_id"] != user:
            continue
        held = attempt.get(e["attempt_id"])
        if held is None or (e["ts"], e["id"]) < (held["ts"], held["id"]):
            attempt[e["attempt_id"]] = e
    mine = sorted((e for e in attempt.values() if (e["course_id"], e["quiz_id"]) == (course, quiz)),
                  key=lambda e: (e["ts"], e["attempt_id"]))
    statuses: dict[str, tuple[str, bool]] = {}
    counted: list[dict[str, Any]] = []
    for e in mine:
        percent = 100 * e["score"] / e["max_score"]
        passed = e["passed"] if e.get("passed") is not None else percent >= passing
        if e["ts"] <= reset:
            status = "before_reset"
        elif max_attempts is not None and len(counted) >= max_attempts:
            status = "over_limit"
        elif counted and e["ts"] - counted[-1]["ts"] < cooldown_ms:
            status = "in_cooldown"
        else:
            status = "counted"
            counted.append(e | {"percent": percent, "ok": passed})
        statuses[e["attempt_id"]] = (status, passed)
    percents = [c["percent"] for c in counted]
    kept = None
    if percents:
        kept = {"best": max(percents), "last": percents[-1],
                "average": sum(percents) / len(percents)}[scoring]
    first = next((c for c in counted if c["ok"]), None)
    return RefQuiz(
        statuses=statuses,
        counted=len(counted),
        passed=first is not None,
        attempts_left=None if max_attempts is None else max(0, max_attempts - len(counted)),
        kept_percent=kept,
        fact=None if first is None else (first["ts"], first["id"]),
    )
