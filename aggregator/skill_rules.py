"""Skill mastery as a pure rule: the mean value of a skill's tagged catalog items.

Chapters and quizzes of a catalog may carry ``skills``. A learner's mastery of a skill is the
mean, over the skill's items in the courses where the learner has a record that is not dropped,
of each item's value: a completed chapter 1, another chapter its progress ÷ 100, a quiz its kept
score percent ÷ 100 (by the quiz's scoring), an item without activity 0. It is shown in percent
(2 decimals) with a level: ``novice`` below 40, ``developing`` below 70, ``proficient`` below
90, ``mastered`` from 90.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

LEVELS = ((40.0, "novice"), (70.0, "developing"), (90.0, "proficient"))


@dataclass(frozen=True, slots=True)
class TaggedItem:
    skill_id: str
    value: float
    """0 to 1."""


def chapter_value(completed: bool, progress: float) -> float:
    return 1.0 if completed else max(0.0, min(progress, 100.0)) / 100


def quiz_value(kept_percent: float | None) -> float:
    return 0.0 if kept_percent is None else max(0.0, min(kept_percent, 100.0)) / 100


def level(mastery: float) -> str:
    for bound, name in LEVELS:
        if mastery < bound:
            return name
    return "mastered"


def mastery(items: Iterable[TaggedItem]) -> dict[str, tuple[float, str, int]]:
    """Per skill: (mastery in percent, level, number of items)."""
    sums: dict[str, tuple[float, int]] = {}
    for it in items:
        total, n = sums.get(it.skill_id, (0.0, 0))
        sums[it.skill_id] = (total + it.value, n + 1)
    out = {}
    for skill, (total, n) in sorted(sums.items()):
        pct = round(100 * total / n, 2)
        out[skill] = (pct, level(pct), n)
    return out
