"""From a decoded batch to buffer writes: per-event validation, clock skew, merge ops. Pure.

Each raw event is decoded on its own so one bad event is rejected by index and never fails the
batch. Valid events become ops on the merge buffer: chapter events go to their chapter's key,
course-level events to the course key (a quiz attempt among them). Whether a
``chapter_progress`` completes its chapter is decided here, against the course's catalog rules at
the time of ingest; whether a quiz attempt counts, passes and completes its chapter depends on
every attempt of the learner and on the catalog, so the worker decides it
(``aggregator.assessment``). An attempt is only checked here: ``score`` ≤ ``max_score``, and
question ids known when the catalog defines the quiz's questions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import msgspec

from buffer.entries import CourseChange, QuizRecord
from buffer.fold import COMPLETING, PROGRESS, UNCOMPLETE, VIEWED, TailEvent
from buffer.keys import keyid
from buffer.merge_buffer import ShardWrite
from waymark_client.wire import (
    ChapterCompleted,
    ChapterProgress,
    ChapterUncompleted,
    CourseReset,
    CourseViewed,
    Enrollment,
    Event,
    QuizAttempt,
    Rejection,
    to_epoch_ms,
)

MAX_PAST_MS = 90 * 86400 * 1000
MAX_FUTURE_MS = 5 * 60 * 1000
ID_FIELDS = frozenset(
    {"user_id", "course_id", "chapter_id", "quiz_id", "attempt_id", "module_id", "question_id"}
)

_event_decoders: dict[str, Callable[[bytes], Event]] = {
    "json": msgspec.json.Decoder(Event).decode,
    "msgpack": msgspec.msgpack.Decoder(Event).decode,
}
_quiz_json = msgspec.json.Encoder().encode
_PATH = re.compile(r"at `\$(?:\.(\w+))?")


@dataclass(frozen=True, slots=True)
class CourseRules:
    completion_threshold: float = 100.0
    questions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Question ids of each quiz whose catalog definition lists questions."""
    paths: frozenset[str] = frozenset()
    """The learning paths that hold the course (an enrollment's ``path_id`` must be one)."""


DEFAULT_RULES = CourseRules()


@dataclass
class Prepared:
    writes: dict[int, ShardWrite] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)
    valid: int = 0


def rejection_code(message: str) -> str:
    """A stable code for a msgspec validation message."""
    m = _PATH.search(message)
    path = m.group(1) if m else None
    if "unknown field" in message:
        return "unknown_field"
    if "missing required field" in message:
        return "missing_field"
    if "Invalid value" in message and path in (None, "type"):
        return "unknown_type"
    if path in ID_FIELDS or path == "id":
        return "invalid_id"
    return "invalid_value"


def decode_events(
    fmt: str, raw_events: list[msgspec.Raw], max_event_bytes: int
) -> tuple[list[tuple[int, Event]], list[Rejection]]:
    decode = _event_decoders[fmt]
    good: list[tuple[int, Event]] = []
    bad: list[Rejection] = []
    for i, raw in enumerate(raw_events):
        if len(raw) > max_event_bytes:
            msg = f"event is {len(raw)} bytes, the limit is {max_event_bytes}"
            bad.append(Rejection(index=i, code="event_too_large", message=msg))
            continue
        try:
            good.append((i, decode(raw)))
        except msgspec.ValidationError as e:
            bad.append(Rejection(index=i, code=rejection_code(str(e)), message=str(e)))
        except msgspec.DecodeError as e:
            bad.append(Rejection(index=i, code="malformed_event", message=str(e)))
        except RecursionError:
            msg = "event is nested too deeply"
            bad.append(Rejection(index=i, code="malformed_event", message=msg))
    return good, bad


def prepare(
    events: list[tuple[int, Event]],
    *,
    now_ms: int,
    skew_ms: int,
    rules: Mapping[str, CourseRules],
    shard_of: Callable[[str], int],
) -> Prepared:
    """Turn decoded events into per-shard buffer writes; reject those out of range."""
    out = Prepared()
    for index, ev in events:
        ts = to_epoch_ms(ev.ts) + skew_ms
        if not now_ms - MAX_PAST_MS <= ts <= now_ms + MAX_FUTURE_MS:
            out.rejected.append(
                Rejection(
                    index=index,
                    code="ts_out_of_range",
                    message="ts (after clock-skew correction) must lie within the last 90 days"
                    " and at most 5 minutes ahead of the server",
                )
            )
            continue
        course_rules = rules.get(ev.course_id, DEFAULT_RULES)
        if isinstance(ev, QuizAttempt) and (bad := _bad_attempt(index, ev, course_rules)):
            out.rejected.append(bad)
            continue
        if isinstance(ev, Enrollment) and ev.path_id and ev.path_id not in course_rules.paths:
            out.rejected.append(Rejection(
                index=index, code="invalid_value",
                message=f"course {ev.course_id!r} is not in path {ev.path_id!r}"))
            continue
        shard = shard_of(ev.user_id)
        w = out.writes.get(shard)
        if w is None:
            w = out.writes[shard] = ShardWrite()
        n = w.add_event(index, ev.id, ev.source_id, ev.seq, ev.user_id, ts)
        _add_ops(w, n, ev, ts, course_rules)
        out.valid += 1
    return out


def _bad_attempt(index: int, ev: QuizAttempt, rules: CourseRules) -> Rejection | None:
    if ev.score > ev.max_score:
        return Rejection(index=index, code="invalid_value",
                         message=f"score {ev.score} is greater than max_score {ev.max_score}")
    known = rules.questions.get(ev.quiz_id)
    if known is not None:
        for r in ev.responses:
            if r.question_id not in known:
                return Rejection(
                    index=index, code="unknown_question",
                    message=f"question {r.question_id!r} is not in quiz {ev.quiz_id!r}",
                )
    return None


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _add_ops(w: ShardWrite, n: int, ev: Event, ts: int, rules: CourseRules) -> None:
    course_key = keyid(ev.user_id, ev.course_id)
    match ev:
        case ChapterProgress():
            done = ev.progress >= rules.completion_threshold
            pos = -1.0 if ev.position_s is None else ev.position_s
            kind = COMPLETING if done else PROGRESS
            tail = TailEvent(ts, ev.id, kind, ev.progress, _ms(ev.time_spent_s), pos)
            w.chapter_op(n, keyid(ev.user_id, ev.course_id, ev.chapter_id), done, tail)
        case ChapterCompleted():
            tail = TailEvent(ts, ev.id, COMPLETING, -1.0, _ms(ev.time_spent_s), -1.0)
            w.chapter_op(n, keyid(ev.user_id, ev.course_id, ev.chapter_id), True, tail)
        case ChapterUncompleted():
            tail = TailEvent(ts, ev.id, UNCOMPLETE, -1.0, 0, -1.0)
            w.chapter_op(n, keyid(ev.user_id, ev.course_id, ev.chapter_id), True, tail)
        case QuizAttempt():
            record = QuizRecord(
                quiz_id=ev.quiz_id,
                attempt_id=ev.attempt_id,
                chapter_id=ev.chapter_id,
                ts=ts,
                score=ev.score,
                max_score=ev.max_score,
                passed=ev.passed,
                duration_s=ev.duration_s,
                responses=msgspec.to_builtins(ev.responses),
            )
            quiz = CourseChange("Q", ts, ev.id, _quiz_json(record).decode())
            w.course_op(n, course_key, True, quiz)
        case Enrollment():
            w.course_op(n, course_key, True, CourseChange("E", ts, ev.id, ev.status))
        case CourseReset():
            w.course_op(n, course_key, True, CourseChange("R", ts, ev.id, ""))
        case CourseViewed():
            w.course_op(n, course_key, False, CourseChange("V", ts, ev.id, ev.chapter_id or ""))
            if ev.chapter_id:  # the chapter's own fact: it completes a "view" requirement
                tail = TailEvent(ts, ev.id, VIEWED, -1.0, 0, -1.0)
                w.chapter_op(n, keyid(ev.user_id, ev.course_id, ev.chapter_id), False, tail)
