"""What of an erased learner's in-flight data still counts, as pure functions (no I/O)."""

from __future__ import annotations

import msgspec

from aggregator.course_export import csv_row
from aggregator.tombstones import drop_erased, trim_course
from buffer.entries import (
    ChapterHeader,
    CourseEntry,
    DrainedChapter,
    QuizRecord,
    decode_chapter,
    decode_course,
)
from buffer.fold import COMPLETING, NONE_TS, PROGRESS, Base, CourseState, TailEvent
from buffer.merge_buffer import Written
from ingest.erasure import refusals
from ingest.prepare import prepare
from waymark_client.wire import ChapterProgress

E = 1_000_000
_encode = msgspec.msgpack.Encoder().encode


def chapter(accepted_ms: int, *ts: int) -> bytes:
    events = [TailEvent(t, f"e{t}", PROGRESS, 10.0 * (i + 1), 1000, -1.0)
              for i, t in enumerate(ts)]
    last = events[-1]
    return _encode(DrainedChapter(ChapterHeader(Base(), accepted_ms, last.ts, last.id,
                                                len(events)), events))


def course(accepted_ms: int, state: CourseState, *attempt_ts: int) -> bytes:
    attempts = [(f"q{t}", msgspec.json.encode(QuizRecord(
        "q", f"a{t}", None, t, 5.0, 10.0, False, None, [])).decode()) for t in attempt_ts]
    return _encode(CourseEntry(state, attempts, accepted_ms))


def test_an_erased_learners_entry_accepted_before_the_erasure_is_dropped_whole() -> None:
    entries = [("u|c|ch", chapter(E - 5, E + 100, E + 200)), ("u|c|", course(E, CourseState()))]
    assert drop_erased(entries, {"u": E}) == []


def test_other_learners_entries_pass_untouched() -> None:
    entries = [("v|c|ch", chapter(E - 5, E - 100))]
    assert drop_erased(entries, {"u": E}) == entries


def test_a_later_entry_keeps_only_events_after_the_erasure() -> None:
    (kid, raw), = drop_erased([("u|c|ch", chapter(E + 1, E - 10, E + 10))], {"u": E})
    state, accepted = decode_chapter(raw)
    assert kid == "u|c|ch" and accepted == E + 1
    assert [e.ts for e in state.tail] == [E + 10]


def test_a_later_entry_with_only_old_events_is_dropped() -> None:
    assert drop_erased([("u|c|ch", chapter(E + 1, E - 10, E))], {"u": E}) == []


def test_a_course_entry_keeps_its_facts_after_the_erasure_and_its_later_attempts() -> None:
    state = CourseState(reset_ts=E - 1, reset_id="r", enroll_status="enrolled", enroll_ts=E + 5,
                        enroll_id="n", seen_ts=E + 5, view_chapter="ch", view_ts=E, view_id="v")
    (_, raw), = drop_erased([("u|c|", course(E + 1, state, E - 3, E + 4))], {"u": E})
    entry = decode_course(raw)
    assert entry.state == CourseState(enroll_status="enrolled", enroll_ts=E + 5, enroll_id="n",
                                      seen_ts=E + 5)
    assert [i for i, _ in entry.attempts] == [f"q{E + 4}"]


def test_a_course_state_entirely_before_the_erasure_trims_to_nothing() -> None:
    state = CourseState(reset_ts=E - 1, reset_id="r", seen_ts=E)
    assert trim_course(state, E) == CourseState()
    assert trim_course(state, E).seen_ts == NONE_TS


def test_the_events_the_merge_refused_are_rejected_by_index_with_the_erasure_time() -> None:
    def progress(eid: str, user: str, ts: int) -> ChapterProgress:
        return ChapterProgress(id=eid, user_id=user, course_id="c", ts=ts, chapter_id="x",
                               progress=1)

    evs = [(0, progress("a", "u", E)), (1, progress("b", "v", E - 9)),
           (2, progress("c", "u", E + 1)), (4, progress("d", "u", E - 1))]
    prepared = prepare(evs, now_ms=E, skew_ms=-1, rules={}, shard_of=lambda u: len(u) % 2)
    (only, w), = prepared.writes.items()
    assert w.request.users == ["u", "v"]
    assert [(e.user_slot, e.ts) for e in w.request.events] == [(1, E - 1), (2, E - 10),
                                                               (1, E), (1, E - 2)]
    answer = Written("e1e0", 4, {"u": E})
    refused = refusals(prepared.writes, {only: answer})
    assert [(r.index, r.code) for r in refused] == [(0, "user_erased"), (2, "user_erased")]
    assert "'u' was erased at 1970-01-01T00:16:40+00:00" in refused[0].message
    assert refusals(prepared.writes, {only: Written("1110", 4, {})}) == []


def test_a_csv_cell_a_spreadsheet_would_run_as_a_formula_is_quoted() -> None:
    row = ("=HYPERLINK(1)", None, "+ch", False, None, None, None, None, None, None, None, None,
           None, "not_started", None)
    cells = csv_row(row)
    assert cells[0] == "'=HYPERLINK(1)" and cells[2] == "'+ch"
    assert cells[5:8] == ["0.0", "false", ""] and cells[13] == "not_started"


def test_a_completing_event_kind_survives_a_trim() -> None:
    raw = _encode(DrainedChapter(ChapterHeader(Base(), E + 1, E + 2, "z", 1),
                                 [TailEvent(E + 2, "z", COMPLETING, -1.0, 0, -1.0)]))
    (_, kept), = drop_erased([("u|c|ch", raw)], {"u": E})
    assert decode_chapter(kept)[0].tail[0].kind == COMPLETING
