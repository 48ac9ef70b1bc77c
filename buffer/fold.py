"""The merge rules as pure functions on chapter and course state (README, "Merge semantics").

A chapter's state is a *tail* of its most recent events (at most ``TAIL_LIMIT``, ordered by
``(ts, id)``) on top of a *base*: the in-order fold of every older event. The tail lets a late
``chapter_uncompleted`` or ``course_reset`` be applied exactly — progress after an uncomplete,
time after a reset and the earliest completion after an uncomplete all depend on the order of
events, not only on their maxima and sums. The base keeps the state bounded; a control event
older than everything in the tail meets already-folded history, which it can only adjust
approximately (documented in the README, "Merge semantics").

The same state shape is kept in the Redis merge buffer (``lua/merge.lua`` implements the same
``fold`` step, and a differential test holds the two together; ``buffer.entries`` holds the
entry layout) and in PostgreSQL (``chapter_progress.state``), so merging a flushed buffer entry
into the stored row is one more application of :func:`merge_chapter`.

Ordering: "latest" always means greatest ``(ts, id)``: ties on ``ts`` go to the greater event id.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

TAIL_LIMIT = 16
"""Events a stored chapter state keeps unfolded (the rest is its base, and the event log)."""
BUFFER_TAIL_CAP = 1024
"""Events one buffer entry holds unfolded between two drains: up to this many, every event
reaches the worker and the chapter event log."""
NONE_TS = -1

# Event kinds inside a chapter state.
PROGRESS = "P"
COMPLETING = "C"
UNCOMPLETE = "U"
VIEWED = "V"
"""A ``course_viewed`` naming the chapter: kept in the tail and the event log, it changes
nothing in the fold; the apply step decides it completing where the chapter's requirement is
``view`` (``aggregator.requirements``)."""


class TailEvent(msgspec.Struct, array_like=True, frozen=True):
    """One chapter event as the fold sees it."""

    ts: int
    id: str
    kind: str
    progress: float
    """-1 when the event carries none."""
    time_ms: int
    position_s: float
    """-1 when the event carries none."""


def _after(a_ts: int, a_id: str, b_ts: int, b_id: str) -> bool:
    """Is ``(a_ts, a_id)`` strictly later than ``(b_ts, b_id)``; ``b_ts == -1`` is "never"."""
    return a_ts > b_ts or (a_ts == b_ts and a_id > b_id)


class Base(msgspec.Struct, array_like=True):
    """The fold of a chapter's older events (see module docstring).

    Positions (``lua/merge.lua`` uses them): 1 upto_ts 2 upto_id 3 first_ts 4 last_ts 5 prog
    6 c_ts 7 c_id 8 c_at 9 u_ts 10 u_id 11 time_ms 12 pos 13 pos_ts 14 pos_id. The scripts write
    an empty base as an empty array, which decodes to these defaults.
    """

    upto_ts: int = NONE_TS
    upto_id: str = ""
    first_ts: int = NONE_TS
    last_ts: int = NONE_TS
    prog: float = 0.0
    c_ts: int = NONE_TS
    c_id: str = ""
    c_at: int = NONE_TS
    u_ts: int = NONE_TS
    u_id: str = ""
    time_ms: int = 0
    pos: float = -1.0
    pos_ts: int = NONE_TS
    pos_id: str = ""

    @property
    def empty(self) -> bool:
        return self.upto_ts == NONE_TS

    def copy(self) -> Base:
        return msgspec.structs.replace(self)


def fold(base: Base, ev: TailEvent) -> None:
    """Apply one event to ``base`` as if it came after everything folded so far.

    Exact when ``ev`` is later than ``base.upto``; for an older event the commutative parts
    (times, first/last, position, maxima) stay exact and the order-dependent parts are kept
    as close as the folded history allows.
    """
    ts, eid, kind, p, time_ms, pos = ev.ts, ev.id, ev.kind, ev.progress, ev.time_ms, ev.position_s
    if kind == VIEWED:
        return
    in_order = _after(ts, eid, base.upto_ts, base.upto_id)
    if base.empty:
        base.first_ts = base.last_ts = ts
    else:
        base.first_ts = min(base.first_ts, ts)
        base.last_ts = max(base.last_ts, ts)
    base.time_ms += time_ms
    if pos >= 0 and _after(ts, eid, base.pos_ts, base.pos_id):
        base.pos, base.pos_ts, base.pos_id = pos, ts, eid
    after_u = _after(ts, eid, base.u_ts, base.u_id)
    if kind == PROGRESS:
        if after_u:
            base.prog = max(base.prog, p)
    elif kind == COMPLETING:
        if after_u:
            base.prog = max(base.prog, p)
            if base.c_at == NONE_TS or ts < base.c_at:
                base.c_at = ts
        if _after(ts, eid, base.c_ts, base.c_id):
            base.c_ts, base.c_id = ts, eid
    elif kind == UNCOMPLETE and after_u:
        base.u_ts, base.u_id = ts, eid
        if in_order:
            base.prog = 0.0
            base.c_at = NONE_TS
        elif base.c_at != NONE_TS and base.c_at <= ts:
            still_completed = _after(base.c_ts, base.c_id, ts, eid)
            base.c_at = base.c_ts if still_completed else NONE_TS
    if in_order:
        base.upto_ts, base.upto_id = ts, eid


class ChapterState(msgspec.Struct, array_like=True):
    """A chapter's merge state: ``[base, [events]]`` (also ``chapter_progress.state``)."""

    base: Base = msgspec.field(default_factory=Base)
    tail: list[TailEvent] = msgspec.field(default_factory=list)


def _fold_base_into(into: Base, other: Base) -> None:
    """Combine two folded histories (both approximate summaries of disjoint events)."""
    if other.empty:
        return
    if into.empty:
        for name in Base.__struct_fields__:
            setattr(into, name, getattr(other, name))
        return
    u_ts, u_id = (other.u_ts, other.u_id)
    if _after(u_ts, u_id, into.u_ts, into.u_id):
        earlier, later = into, other
    else:
        earlier, later = other, into
        u_ts, u_id = into.u_ts, into.u_id
    # Progress of the side whose events all precede the later uncomplete no longer counts.
    earlier_counts = earlier.last_ts > u_ts or u_ts == NONE_TS
    prog = max(later.prog, earlier.prog if earlier_counts else 0.0)
    c_ats = [b.c_at for b in (earlier, later) if b.c_at != NONE_TS and b.c_at > u_ts]
    if _after(earlier.c_ts, earlier.c_id, later.c_ts, later.c_id):
        c_ts, c_id = earlier.c_ts, earlier.c_id
    else:
        c_ts, c_id = later.c_ts, later.c_id
    if not c_ats and c_ts != NONE_TS and _after(c_ts, c_id, u_ts, u_id):
        c_ats = [c_ts]
    pos_src = into if _after(into.pos_ts, into.pos_id, other.pos_ts, other.pos_id) else other
    upto_src = into if _after(into.upto_ts, into.upto_id, other.upto_ts, other.upto_id) else other
    into.upto_ts, into.upto_id = upto_src.upto_ts, upto_src.upto_id
    into.first_ts = min(into.first_ts, other.first_ts)
    into.last_ts = max(into.last_ts, other.last_ts)
    into.prog = prog
    into.c_ts, into.c_id = c_ts, c_id
    into.c_at = min(c_ats) if c_ats else NONE_TS
    into.u_ts, into.u_id = u_ts, u_id
    into.time_ms += other.time_ms
    into.pos, into.pos_ts, into.pos_id = pos_src.pos, pos_src.pos_ts, pos_src.pos_id


def merge_chapter(a: ChapterState, b: ChapterState, limit: int = TAIL_LIMIT) -> ChapterState:
    """The union of two chapter states over disjoint event sets (commutative)."""
    base = a.base.copy()
    _fold_base_into(base, b.base)
    seen: set[str] = set()
    tail: list[TailEvent] = []
    for ev in sorted(a.tail + b.tail, key=lambda e: (e.ts, e.id)):
        if ev.id in seen:
            continue
        seen.add(ev.id)
        if base.empty or _after(ev.ts, ev.id, base.upto_ts, base.upto_id):
            tail.append(ev)
        else:
            fold(base, ev)
    overflow = len(tail) - limit
    if overflow > 0:
        for ev in tail[:overflow]:
            fold(base, ev)
        tail = tail[overflow:]
    return ChapterState(base, tail)


def buffer_add(
    state: ChapterState, ev: TailEvent, limit: int = TAIL_LIMIT, cap: int = BUFFER_TAIL_CAP
) -> None:
    """Add ``ev`` to a chapter entry of the merge buffer, as ``lua/merge.lua`` does it.

    Events are appended in arrival order, unsorted, up to ``cap``; the worker sorts them. Past
    ``cap`` the tail is sorted and its oldest events folded into the base down to ``limit``; an
    event not after the base's last folded event is then folded at once. The script is what
    runs; this twin is the model a differential test holds it to.
    """
    base, tail = state.base, state.tail
    if not base.empty and not _after(ev.ts, ev.id, base.upto_ts, base.upto_id):
        fold(base, ev)
        return
    tail.append(ev)
    if len(tail) <= cap:
        return
    tail.sort(key=lambda e: (e.ts, e.id))
    drop = len(tail) - limit
    for old in tail[:drop]:
        fold(base, old)
    del tail[:drop]


def needs_rebuild(stored: ChapterState, incoming: ChapterState | None, reset_ts: int) -> bool:
    """Would merging ``incoming`` into ``stored`` under ``reset_ts`` lean on folded history?

    The fold is exact for events later than everything folded, and for progress and time in
    any order; it is not for a reset that falls among folded events (their time must go) or
    for a completion or uncomplete older than the base's last folded event (what came after it
    depends on the order). Those cases recompute the chapter from its logged events.
    ``incoming`` is taken as already trimmed by ``reset_ts``.
    """
    base = stored.base
    if base.empty:
        return False
    if reset_ts != NONE_TS and base.first_ts <= reset_ts < base.upto_ts:
        return True
    if incoming is None:
        return False
    return any(
        e.kind in (COMPLETING, UNCOMPLETE) and not _after(e.ts, e.id, base.upto_ts, base.upto_id)
        for e in incoming.tail
    )


def rebuild_chapter(
    events: Iterable[TailEvent], reset_ts: int = NONE_TS, limit: int = TAIL_LIMIT
) -> ChapterState:
    """A chapter's state from every one of its events: exact, whatever their order."""
    distinct = {e.id: e for e in events if e.ts > reset_ts}
    ordered = sorted(distinct.values(), key=lambda e: (e.ts, e.id))
    base = Base()
    cut = max(0, len(ordered) - limit)
    for ev in ordered[:cut]:
        fold(base, ev)
    return ChapterState(base, ordered[cut:])


def trim_chapter(state: ChapterState, reset_ts: int) -> ChapterState:
    """Drop everything a reset at ``reset_ts`` makes irrelevant for good."""
    if reset_ts == NONE_TS:
        return state
    base = state.base if state.base.upto_ts > reset_ts else Base()
    return ChapterState(base, [e for e in state.tail if e.ts > reset_ts])


class ChapterSummary(msgspec.Struct, frozen=True, gc=False):
    """What a chapter's state means: the values the merge rules define."""

    progress: float
    completed: bool
    completed_at: int | None
    position_s: float | None
    time_ms: int
    first_ts: int | None
    last_ts: int | None


def summarize_chapter(state: ChapterState, reset_ts: int = NONE_TS) -> ChapterSummary:
    trimmed = trim_chapter(state, reset_ts)
    b = trimmed.base.copy()
    for ev in trimmed.tail:
        fold(b, ev)
    completed = b.c_ts != NONE_TS and _after(b.c_ts, b.c_id, b.u_ts, b.u_id)
    completed_at = (b.c_at if b.c_at != NONE_TS else b.c_ts) if completed else None
    return ChapterSummary(
        progress=100.0 if completed else b.prog,
        completed=completed,
        completed_at=completed_at,
        position_s=b.pos if b.pos_ts != NONE_TS else None,
        time_ms=b.time_ms,
        first_ts=None if b.empty else b.first_ts,
        last_ts=None if b.empty else b.last_ts,
    )


class CourseState(msgspec.Struct, array_like=True):
    """Course-level merge state of one (user, course): latest reset, enrollment, last access."""

    reset_ts: int = NONE_TS
    reset_id: str = ""
    enroll_status: str = ""
    enroll_ts: int = NONE_TS
    enroll_id: str = ""
    seen_ts: int = NONE_TS
    view_chapter: str = ""
    view_ts: int = NONE_TS
    view_id: str = ""


def merge_course(a: CourseState, b: CourseState) -> CourseState:
    """Union of two course states: every field is a max or last-writer-wins by (ts, id)."""
    out = msgspec.structs.replace(a)
    if _after(b.reset_ts, b.reset_id, out.reset_ts, out.reset_id):
        out.reset_ts, out.reset_id = b.reset_ts, b.reset_id
    if b.enroll_status and _after(b.enroll_ts, b.enroll_id, out.enroll_ts, out.enroll_id):
        out.enroll_status, out.enroll_ts, out.enroll_id = b.enroll_status, b.enroll_ts, b.enroll_id
    out.seen_ts = max(out.seen_ts, b.seen_ts)
    if _after(b.view_ts, b.view_id, out.view_ts, out.view_id):
        out.view_chapter, out.view_ts, out.view_id = b.view_chapter, b.view_ts, b.view_id
    return out
