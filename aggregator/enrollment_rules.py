"""The enrollment lifecycle's rules as pure functions: history order, active courses, visibility.

- **History**: every distinct enrollment event of a (user, course), ordered by ``(ts, event
  id)``; the current status is the last one (a late event with an earlier ``ts`` lands in its
  place and changes the status only if it is the latest).
- **Active**: a course record counts in the learner's active figures (summary, course list,
  course stats) unless its enrollment status is ``dropped``; a later ``enrolled`` or ``paused``
  after a drop makes it count again.
- **Visible**: a (user, course) whose only facts are ``chapter_uncompleted`` events is kept but
  not shown (reads answer 404, lists and counts skip it): any other event — progress, a
  completion, a quiz attempt, an enrollment, a view, a reset — makes it visible.

The SQL predicates below are the same rules for set-based reads; the reference model
(``tests/reference.py``) and the property test hold the two together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from buffer.fold import NONE_TS, UNCOMPLETE, ChapterState

DROPPED = "dropped"



def active_sql(alias: str = "") -> str:
    """SQL: a ``course_progress`` row (``alias.``) counted in active figures (:func:`is_active`)."""
    return f"({alias}visible AND {alias}enrollment_status IS DISTINCT FROM 'dropped')"


def dropped_sql(alias: str = "") -> str:
    """SQL: a visible ``course_progress`` row whose learner dropped the course."""
    return f"({alias}visible AND {alias}enrollment_status = 'dropped')"


@dataclass(frozen=True, slots=True, order=True)
class Enrollment:
    """One enrollment event: ordered by ``(ts, event_id)``."""

    ts: int
    event_id: str
    status: str


def history(events: Iterable[Enrollment]) -> list[Enrollment]:
    """Distinct events (by id) in event-time order, ties by event id."""
    return sorted({e.event_id: e for e in events}.values())


def current_status(events: Iterable[Enrollment]) -> str | None:
    """The status of the latest event by ``(ts, event id)``; None without any."""
    ordered = history(events)
    return ordered[-1].status if ordered else None


def is_active(visible: bool, enrollment_status: str | None) -> bool:
    """Does a course record count in the learner's active figures and the course's stats?"""
    return visible and enrollment_status != DROPPED


def chapter_has_fact(state: ChapterState) -> bool:
    """Does a chapter's state (a buffer entry or a stored row) hold a non-uncomplete event?

    A folded base keeps no kinds; it held another event when it has a completion, progress,
    time, a position, or events at other times than its latest uncomplete.
    """
    if any(e.kind != UNCOMPLETE for e in state.tail):
        return True
    b = state.base
    if b.empty:
        return False
    return (
        b.u_ts == NONE_TS or b.c_ts != NONE_TS or b.prog > 0 or b.time_ms > 0
        or b.pos_ts != NONE_TS or b.first_ts != b.u_ts or b.last_ts != b.u_ts
    )


def is_visible(course_level_fact: bool, chapter_facts: Iterable[bool]) -> bool:
    """A (user, course) is shown once any of its facts is not a ``chapter_uncompleted``.

    ``course_level_fact``: an enrollment, a view, a reset or a quiz attempt was seen.
    """
    return course_level_fact or any(chapter_facts)
