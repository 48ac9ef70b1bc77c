"""Path progress as a pure function of a path definition and the learner's course rows.

A learner is on a path once they have a record in any of its courses. ``percent_complete`` =
100 x completed required courses / required courses (100 when none is required);
``current_course_id`` is the first required course in order not completed (None once the path
is completed); ``status`` and the dates follow the course rules: ``completed`` at 100 %, else
``in_progress`` when any of its courses has activity, else ``not_started``; ``started_at`` the
earliest start among its courses; ``completed_at`` the latest completion among its required
courses (the earliest start when none is required). Per course, ``state`` is ``completed``,
``locked`` (a sequential path whose earlier required course is not completed),
``in_progress`` (it has activity) or ``available``.

Only visible records count (a (user, course) whose only facts are uncompletes does not exist for
any read), and a dropped course is shown with its state and counts as not completed: it is
``dropped`` in the path's course list, never completes the path, gives no start or completion
date, and a drop does not by itself put the learner on the path (:func:`on_path`) — as Canvas
and Open edX treat a dropped or unenrolled course in a program.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import msgspec

from aggregator.enrollment_rules import DROPPED, is_active
from aggregator.paths import PathDefinition


@dataclass(frozen=True, slots=True)
class CourseFacts:
    """What a path needs of one course row of the learner."""

    percent_complete: float | None
    status: str
    started_at: datetime | None
    completed_at: datetime | None
    visible: bool = True
    enrollment_status: str | None = None

    @property
    def active(self) -> bool:
        return is_active(self.visible, self.enrollment_status)


def on_path(rows: Mapping[str, CourseFacts]) -> bool:
    """Is the learner on a path whose courses' records are ``rows``: one active record."""
    return any(f.active for f in rows.values())


class PathCourseProgress(msgspec.Struct, kw_only=True):
    course_id: str
    required: bool
    percent_complete: float
    state: str


class PathProgressView(msgspec.Struct, kw_only=True):
    """``GET /v1/users/{user_id}/paths/{path_id}``."""

    path_id: str
    title: str
    percent_complete: float
    status: str
    current_course_id: str | None
    started_at: datetime | None
    completed_at: datetime | None
    courses: list[PathCourseProgress]


def path_progress(path: PathDefinition, rows: Mapping[str, CourseFacts]) -> PathProgressView:
    """The learner's progress on ``path`` from their rows of its courses (see module doc)."""
    rows = {c: f for c, f in rows.items() if f.visible}
    active = {c: f for c, f in rows.items() if f.active}
    required = [c for c in path.courses if c.required]
    done = {c.course_id for c in path.courses
            if (f := active.get(c.course_id)) is not None and f.status == "completed"}
    n_done = sum(1 for c in required if c.course_id in done)
    percent = round(100 * n_done / len(required), 2) if required else 100.0
    starts = [f.started_at for f in active.values() if f.started_at is not None]
    started_at = min(starts) if starts else None
    if percent == 100:
        ends = [f.completed_at for c in required
                if (f := active.get(c.course_id)) is not None and f.completed_at is not None]
        completed_at, status = (max(ends) if ends else started_at), "completed"
    else:
        completed_at, status = None, ("in_progress" if started_at else "not_started")
    courses, blocked = [], False
    for c in path.courses:
        f = rows.get(c.course_id)
        if f is not None and f.enrollment_status == DROPPED:
            state = "dropped"
        elif c.course_id in done:
            state = "completed"
        elif path.sequential and blocked:
            state = "locked"
        elif f is not None and f.started_at is not None:
            state = "in_progress"
        else:
            state = "available"
        if c.required and c.course_id not in done:
            blocked = True
        pct = 0.0 if f is None or f.percent_complete is None else f.percent_complete
        courses.append(PathCourseProgress(course_id=c.course_id, required=c.required,
                                          percent_complete=pct, state=state))
    current = None if status == "completed" else next(
        (c.course_id for c in required if c.course_id not in done), None)
    return PathProgressView(
        path_id=path.path_id, title=path.title, percent_complete=percent, status=status,
        current_course_id=current, started_at=started_at, completed_at=completed_at,
        courses=courses,
    )
