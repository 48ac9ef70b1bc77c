"""Client-side merge of consecutive ``chapter_progress`` events (pure functions).

The server folds progress with max / sum / last-writer-wins, so two progress events of
one chapter can be sent as one without changing the stored result — provided nothing else about
that chapter (a completion, an uncomplete, a quiz for it, a course reset) sits between them, and
the sum of seconds still fits one event (``time_spent_s`` ≤ 3600) and the newest of the two
carries the position, if either does. The merged event keeps the
earlier event's ``id`` and ``seq``: the earlier one was never sent, so the server never sees the
same id with two contents.
"""

from __future__ import annotations

import msgspec

from waymark_client.wire import ChapterProgress, CourseReset, Event, to_epoch_ms

MAX_TIME_SPENT_S = 3600.0

CourseKey = tuple[str, str]
"""(user_id, course_id)."""


def course_key(event: Event) -> CourseKey:
    """The (user, course) an event belongs to."""
    return (event.user_id, event.course_id)


def chapter_of(event: Event) -> str | None:
    """The chapter an event is about, or ``None`` when it names none."""
    return getattr(event, "chapter_id", None)


def breaks_whole_course(event: Event) -> bool:
    """Whether no progress event of this course may be merged across ``event``."""
    return isinstance(event, CourseReset)


def merge_progress(
    earlier: ChapterProgress,
    later: ChapterProgress,
    *,
    span_start_ms: int,
    window_ms: int,
) -> ChapterProgress | None:
    """``earlier`` and ``later`` as one event, or ``None`` when they must stay apart.

    ``span_start_ms`` is the oldest ``ts`` already folded into ``earlier``; a run is not
    merged past ``window_ms`` so a merged event never hides a long stretch of activity.
    """
    t_earlier, t_later = to_epoch_ms(earlier.ts), to_epoch_ms(later.ts)
    if max(t_earlier, t_later) - min(span_start_ms, t_later) > window_ms:
        return None
    spent = earlier.time_spent_s + later.time_spent_s
    if spent > MAX_TIME_SPENT_S:
        return None
    # The merged event carries the newest ts, so it may only carry the newest event's position:
    # an older position under a newer ts would beat, on the server's last-writer-wins, a
    # position another device recorded in between. A tie in ts goes to the later event.
    newest = later if (t_later, later.id) >= (t_earlier, earlier.id) else earlier
    other = earlier if newest is later else later
    if newest.position_s is None and other.position_s is not None:
        return None
    return msgspec.structs.replace(
        earlier,
        progress=max(earlier.progress, later.progress),
        time_spent_s=spent,
        position_s=newest.position_s,
        ts=newest.ts,
    )
