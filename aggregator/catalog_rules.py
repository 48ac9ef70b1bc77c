"""Requirements, prerequisites and date locks in a course catalog: their shape and validation.

All the fields are optional; a catalog without them reads and behaves as before. Limits:
``MAX_PREREQUISITES`` prerequisites per module and per course. A chapter's ``requirement`` is
``"complete"`` (the default), ``"view"``, ``{"min_score": P, "quiz_id": Q}`` or
``{"min_time_s": N}``; :func:`chapter_rule` turns it into the :class:`ChapterRule` the merge
step decides completion with (``aggregator.requirements``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import msgspec

from waymark_client.wire import Id

MAX_PREREQUISITES = 50
Prerequisites = Annotated[list[Id], msgspec.Meta(max_length=MAX_PREREQUISITES)]


class RequirementSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The object form of a requirement: ``min_score`` + ``quiz_id``, or ``min_time_s``."""

    min_score: float | None = None
    quiz_id: Id | None = None
    min_time_s: float | None = None


Requirement = str | RequirementSpec
"""``"complete"`` | ``"view"`` | :class:`RequirementSpec`."""


class RulesError(ValueError):
    code = "invalid_catalog"


@dataclass(frozen=True, slots=True)
class ChapterRule:
    """How a chapter is completed: ``kind`` is ``complete`` | ``view`` | ``min_score`` |
    ``min_time``; ``value`` the threshold (percent for ``complete`` and ``min_score``,
    milliseconds for ``min_time``); ``quiz_id`` the quiz of ``min_score``."""

    kind: str = "complete"
    value: float = 100.0
    quiz_id: str | None = None


def check_requirement(where: str, req: Requirement | None, quizzes: Iterable[str]) -> None:
    """Raise :class:`RulesError` naming ``where`` when ``req`` is not a valid requirement."""
    if req is None or req in ("complete", "view"):
        return
    if isinstance(req, str):
        raise RulesError(f"{where}.requirement: unknown kind {req!r}; expected 'complete',"
                         " 'view', {'min_score', 'quiz_id'} or {'min_time_s'}")
    if req.min_time_s is not None:
        if req.min_score is not None or req.quiz_id is not None:
            raise RulesError(f"{where}.requirement: give min_time_s alone")
        if not 0 <= req.min_time_s <= 10_000_000:
            raise RulesError(f"{where}.requirement.min_time_s must lie in 0-10000000")
        return
    if req.min_score is None or req.quiz_id is None:
        raise RulesError(f"{where}.requirement: min_score needs quiz_id (and the reverse)")
    if not 0 <= req.min_score <= 100:
        raise RulesError(f"{where}.requirement.min_score must lie in 0-100")
    if req.quiz_id not in set(quizzes):
        raise RulesError(f"{where}.requirement.quiz_id {req.quiz_id!r} is not a quiz of the"
                         " course")


def chapter_rule(req: Requirement | None, threshold: float) -> ChapterRule:
    """The rule of a chapter with requirement ``req`` in a course with ``threshold``."""
    if req is None or req == "complete":
        return ChapterRule("complete", threshold)
    if req == "view":
        return ChapterRule("view", 0.0)
    assert isinstance(req, RequirementSpec)
    if req.min_time_s is not None:
        return ChapterRule("min_time", req.min_time_s * 1000)
    assert req.min_score is not None
    return ChapterRule("min_score", req.min_score, req.quiz_id)


def parse_unlock_at(where: str, value: str | None) -> datetime | None:
    """An RFC 3339 time with its offset, or :class:`RulesError` naming ``where``."""
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None or "T" not in value.upper():
        raise RulesError(f"{where}.unlock_at {value!r} is not an RFC 3339 time with an offset")
    return at


def check_prerequisites(
    kind: str, graph: Mapping[str, Sequence[str]], known: Iterable[str]
) -> None:
    """Refuse unknown, self and cyclic prerequisites in ``graph`` (id → prerequisite ids)."""
    known = set(known)
    for node, prereqs in graph.items():
        for p in prereqs:
            if p == node:
                raise RulesError(f"{kind}[{node!r}].prerequisites lists itself")
            if p not in known:
                raise RulesError(f"{kind}[{node!r}].prerequisites: unknown id {p!r}")
    cycle = find_cycle(graph)
    if cycle:
        raise RulesError(f"{kind} prerequisites form a cycle: {' -> '.join(cycle)}")


def find_cycle(graph: Mapping[str, Sequence[str]]) -> list[str]:
    """A cycle of ``graph`` as its ids (first repeated at the end), or ``[]``."""
    state: dict[str, int] = {}  # 1 on the current walk, 2 finished
    for start in sorted(graph):
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        walk = [start]
        state[start] = 1
        while stack:
            node, i = stack[-1]
            nexts = graph.get(node, ())
            if i < len(nexts):
                stack[-1] = (node, i + 1)
                nxt = nexts[i]
                if state.get(nxt) == 1:
                    return [*walk[walk.index(nxt):], nxt]
                if not state.get(nxt):
                    state[nxt] = 1
                    stack.append((nxt, 0))
                    walk.append(nxt)
            else:
                state[node] = 2
                stack.pop()
                walk.pop()
    return []
