"""The merge buffer's entry format: every value that crosses between Python and the Lua scripts.

One definition, as msgspec ``array_like`` Structs: a Struct's fields, in order, are the positions
of the msgpack array the scripts read and write (``lua/merge.lua`` names the same positions in
its comments). The ingest encodes a :class:`MergeRequest` per shard; ``merge.lua`` folds it into
chapter and course entries; ``drain.lua`` hands a worker each entry as an
:class:`InlineChapter`, a :class:`DrainedChapter` or a :class:`CourseEntry`; the apply step
decodes them with :func:`decode_chapter` and :func:`decode_course`.

Versions: ``ENTRY_FORMAT`` names the layout written now. A drained chapter of format 1 was one
flat array ``[header, *events]`` (and before it ``[base, events, accepted_ms]``); batches in
flight or dead-lettered across an upgrade are still read (:func:`decode_chapter`). Add a field
only at the end of a Struct, with a default, so that older entries keep decoding. Format 4's
inline chapter entry has the layout of format 0, which the scripts and the apply step of every
release read, so that HTTP servers and workers of the previous release can run beside it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from buffer.fold import Base, ChapterState, CourseState, TailEvent, merge_course

ENTRY_FORMAT = 4
"""4: a chapter entry whose events take at most :data:`INLINE_BYTES` is one hash value, an
:class:`InlineChapter` (format 0's layout), with no tail key, and is drained as it is; 3: a
chapter event's kind may also be ``V`` (a ``course_viewed`` naming the chapter), same layout,
and a course entry may also carry every reset at its end; 2: a drained chapter is
``[header, [events]]``; 1: ``[header, *events]``; 0: ``[base, [events], accepted_ms]``."""

INLINE_BYTES = 512
"""A chapter entry keeps its events in its hash value (no tail key to create, read and delete)
while they take at most this many bytes: about 8 progress events, what a learner sends within a
merge window."""


class EventSlot(msgspec.Struct, array_like=True, frozen=True):
    """One event of a request, for deduplication: by id, or by (source, seq) when it has one."""

    event_id: str
    source_slot: int
    """1-based index of the event's source among the request's sources; 0: none."""
    seq: int
    user_slot: int = 0
    """1-based index of the event's learner in :attr:`MergeRequest.users`; 0: not checked."""
    ts: int = 0
    """The event's ``ts`` (ms, clock skew corrected): refused if at or before the learner's
    erasure."""


class ChapterOp(msgspec.Struct, array_like=True, frozen=True, tag="c"):
    """Add ``event`` to a chapter's entry if event number ``ev`` (1-based) is not a duplicate.

    A ``course_viewed`` with a ``chapter_id`` sends one of these (kind ``V``) besides its course
    op, so the view reaches the chapter's event log."""

    ev: int
    keyid: str
    urgent: bool
    event: TailEvent


class CourseChange(msgspec.Struct, array_like=True, frozen=True):
    """A course-level fact: ``R`` reset, ``E`` enrollment, ``V`` view, ``Q`` quiz attempt."""

    kind: str
    ts: int
    event_id: str
    extra: str
    """The enrollment status, the viewed chapter, or the quiz attempt as JSON."""


class CourseOp(msgspec.Struct, array_like=True, frozen=True, tag="k"):
    """Fold ``change`` into a course's entry if event number ``ev`` is not a duplicate."""

    ev: int
    keyid: str
    urgent: bool
    change: CourseChange


Op = ChapterOp | CourseOp


class MergeRequest(msgspec.Struct, array_like=True):
    """What one request sends ``merge.lua`` for one shard."""

    events: list[EventSlot] = msgspec.field(default_factory=list)
    ops: list[Op] = msgspec.field(default_factory=list)
    users: list[str] = msgspec.field(default_factory=list)
    """The learners whose tombstones (``erased`` zset) the script checks."""


class ChapterHeader(msgspec.Struct, array_like=True):
    """A chapter entry's header in the shard's hash; its tail events live in a string key."""

    base: Base
    accepted_ms: int
    """When the entry's first event was accepted (event lag is measured from it)."""
    last_ts: int
    last_id: str
    n: int
    """How many events the tail holds."""


class DrainedChapter(msgspec.Struct, array_like=True):
    header: ChapterHeader
    events: list[TailEvent]

    @property
    def state(self) -> ChapterState:
        return ChapterState(self.header.base, self.events)


class InlineChapter(msgspec.Struct, array_like=True):
    """A chapter entry whose events are few, as ``merge.lua`` stores it and a worker drains it
    (no header: the apply step needs only the base, the events and ``accepted_ms``)."""

    base: Base
    events: list[TailEvent]
    accepted_ms: int

    @property
    def state(self) -> ChapterState:
        return ChapterState(self.base, self.events)


class QuizRecord(msgspec.Struct, array_like=True):
    """A quiz attempt as carried in ``CourseChange.extra`` (JSON, array-like)."""

    quiz_id: str
    attempt_id: str
    chapter_id: str | None
    ts: int
    score: float
    max_score: float
    passed: bool | None
    """What the client sent (entries written before the worker decided passing hold a bool)."""
    duration_s: float | None
    responses: list[Any]


class CourseEntry(msgspec.Struct, array_like=True):
    """A course's entry: merged course state and the quiz attempts, enrollment events and resets
    seen since the last drain (the state keeps only the latest of each; their histories need
    all)."""

    state: CourseState
    attempts: list[tuple[str, str]]
    """(event id, :class:`QuizRecord` as JSON)."""
    accepted_ms: int | None = None
    enrollments: list[tuple[str, int, str]] = msgspec.field(default_factory=list)
    """(event id, ts, status) of every enrollment event, in arrival order."""
    resets: list[tuple[str, int]] = msgspec.field(default_factory=list)
    """(event id, ts) of every course reset, in arrival order (the state keeps only the
    latest; whether a course was ever completed needs every reset epoch)."""
    layout: int = 0
    """1 once the entry holds resets: written then so that the array has 6 fields, never 5
    (``drain.lua`` of earlier releases takes any 5-field array for a chapter header)."""


def add_course_change(entry: CourseEntry, change: CourseChange) -> None:
    """Fold one course-level fact into ``entry``: the Python twin of ``merge.lua``'s
    ``add_course_event`` (a differential test holds the two together)."""
    c, one = change, CourseState(seen_ts=change.ts)
    if c.kind == "R":
        one.reset_ts, one.reset_id = c.ts, c.event_id
        entry.resets.append((c.event_id, c.ts))
        entry.layout = 1
    elif c.kind == "E":
        one.enroll_status, one.enroll_ts, one.enroll_id = c.extra, c.ts, c.event_id
        entry.enrollments.append((c.event_id, c.ts, c.extra))
    elif c.kind == "V":
        one.view_chapter, one.view_ts, one.view_id = c.extra, c.ts, c.event_id
    elif c.kind == "Q":
        entry.attempts.append((c.event_id, c.extra))
    entry.state = merge_course(entry.state, one)


encode_request = msgspec.msgpack.Encoder().encode
_drained_chapter = msgspec.msgpack.Decoder(DrainedChapter).decode
_inline_chapter = msgspec.msgpack.Decoder(InlineChapter).decode
_course_entry = msgspec.msgpack.Decoder(CourseEntry).decode
decode_quiz = msgspec.json.Decoder(QuizRecord).decode

_FIXARRAY_2 = 0x92
_FIXARRAY_3 = 0x93


def decode_chapter(raw: bytes) -> tuple[ChapterState, int | None]:
    """A drained chapter entry: its state and when its first event was accepted."""
    if raw[0] == _FIXARRAY_3:
        inline = _inline_chapter(raw)
        return inline.state, inline.accepted_ms
    if raw[0] == _FIXARRAY_2:
        entry = _drained_chapter(raw)
        return entry.state, entry.header.accepted_ms
    return _decode_chapter_v1(msgspec.msgpack.decode(raw))


def _decode_chapter_v1(wire: list[Any]) -> tuple[ChapterState, int | None]:
    head = wire[0]
    if head and isinstance(head[0], list):  # [header, *events]
        header = msgspec.convert(head, ChapterHeader)
        events = msgspec.convert(wire[1:], list[TailEvent])
        return ChapterState(header.base, events), header.accepted_ms
    state = msgspec.convert(wire[:2], ChapterState)  # [base, events, accepted_ms]
    return state, int(wire[2]) if len(wire) > 2 else None


def decode_course(raw: bytes) -> CourseEntry:
    return _course_entry(raw)
