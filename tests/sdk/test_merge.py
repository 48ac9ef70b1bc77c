"""Client-side merge of progress events keeps the server's result."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from waymark_client import events
from waymark_client.merge import merge_progress
from waymark_client.options import ClientOptions
from waymark_client.pipeline import Pipeline
from waymark_client.wire import ChapterProgress, Event, to_epoch_ms

T0 = 1_800_000_000_000
WINDOW = 10**9


def p(progress: float, *, ts: int, spent: float = 0.0, pos: float | None = None) -> ChapterProgress:
    return events.progress("u", "c", "ch", progress, ts=ts, time_spent_s=spent, position_s=pos)


def merged(a: ChapterProgress, b: ChapterProgress) -> ChapterProgress | None:
    return merge_progress(a, b, span_start_ms=to_epoch_ms(a.ts), window_ms=WINDOW)


def test_merge_takes_max_progress_summed_time_and_the_latest_position() -> None:
    a = p(60, ts=T0, spent=10, pos=100)
    b = p(40, ts=T0 + 5000, spent=5, pos=40)
    m = merged(a, b)
    assert m is not None
    assert (m.progress, m.time_spent_s, m.position_s, m.ts) == (60, 15, 40, T0 + 5000)


def test_the_merged_event_keeps_the_earlier_id_and_seq() -> None:
    a = p(10, ts=T0)
    m = merged(a, p(20, ts=T0 + 1))
    assert m is not None and m.id == a.id


def test_an_event_arriving_late_does_not_win_the_position() -> None:
    m = merged(p(10, ts=T0 + 9000, pos=90), p(20, ts=T0, pos=10))
    assert m is not None and (m.position_s, m.ts) == (90, T0 + 9000)


def test_an_older_position_is_never_carried_under_a_newer_ts() -> None:
    assert merged(p(10, ts=T0, pos=33), p(20, ts=T0 + 1)) is None
    m = merged(p(10, ts=T0), p(20, ts=T0 + 1, pos=7))
    assert m is not None and m.position_s == 7


def test_time_beyond_one_event_limit_is_not_merged() -> None:
    assert merged(p(10, ts=T0, spent=3000), p(20, ts=T0 + 1, spent=601)) is None


def test_events_further_apart_than_the_window_are_not_merged() -> None:
    a, b = p(10, ts=T0), p(20, ts=T0 + 61_000)
    assert merge_progress(a, b, span_start_ms=T0, window_ms=60_000) is None


def queue(evs: list[Event], **opts: object) -> list[Event]:
    """What a pipeline would send for these events, in order."""
    pipeline = Pipeline(ClientOptions(api_key="k", **opts))  # type: ignore[arg-type]
    for e in evs:
        pipeline.admit(e, 200)
    pipeline.request_flush()
    delivery = pipeline.take(0.0)
    return delivery.events if delivery else []


def test_consecutive_progress_of_one_chapter_becomes_one_event() -> None:
    sent = queue([p(10, ts=T0, spent=5), p(20, ts=T0 + 1, spent=5), p(30, ts=T0 + 2, spent=5)])
    assert len(sent) == 1 and isinstance(sent[0], ChapterProgress)
    assert (sent[0].progress, sent[0].time_spent_s) == (30, 15)


def test_other_chapters_in_between_do_not_stop_a_merge() -> None:
    other = events.progress("u", "c", "ch-2", 50, ts=T0 + 1)
    sent = queue([p(10, ts=T0), other, p(20, ts=T0 + 2)])
    assert len(sent) == 2


def test_a_completion_uncomplete_quiz_or_reset_in_between_stops_a_merge() -> None:
    barriers: list[Event] = [
        events.complete("u", "c", "ch", ts=T0 + 1),
        events.uncomplete("u", "c", "ch", ts=T0 + 1),
        events.quiz_attempt("u", "c", "q", "a1", 1, 2, chapter_id="ch", ts=T0 + 1),
        events.reset("u", "c", ts=T0 + 1),
    ]
    for barrier in barriers:
        sent = queue([p(10, ts=T0), barrier, p(20, ts=T0 + 2)])
        assert len(sent) == 3, barrier


def test_merging_can_be_turned_off() -> None:
    assert len(queue([p(10, ts=T0), p(20, ts=T0 + 1)], merge_progress=False)) == 2


def test_an_event_already_in_a_batch_is_never_merged_into() -> None:
    pipeline = Pipeline(ClientOptions(api_key="k"))
    first = pipeline.admit(p(10, ts=T0), 200)
    pipeline.request_flush()
    assert pipeline.take(0.0) is not None
    assert pipeline.admit(p(20, ts=T0 + 1), 200) != first


def server_view(evs: list[ChapterProgress]) -> tuple[float, float, float | None, int]:
    """The merge rules for one chapter of progress: max, sum, position by (ts, id), last ts."""
    with_pos = [e for e in evs if e.position_s is not None]
    last = max(with_pos, key=lambda e: (to_epoch_ms(e.ts), e.id)) if with_pos else None
    return (
        max(e.progress for e in evs),
        round(sum(e.time_spent_s for e in evs), 6),
        last.position_s if last else None,
        max(to_epoch_ms(e.ts) for e in evs),
    )


progress_events = st.lists(
    st.tuples(
        st.floats(0, 100),
        st.integers(0, 900),
        st.one_of(st.none(), st.floats(0, 10_000)),
    ),
    min_size=1,
    max_size=30,
).flatmap(
    lambda rows: st.lists(
        st.integers(0, 600_000), min_size=len(rows), max_size=len(rows), unique=True
    ).map(
        lambda stamps: [
            p(pr, ts=T0 + t, spent=float(sp), pos=pos)
            for (pr, sp, pos), t in zip(rows, stamps, strict=True)
        ]
    )
)


@given(progress_events)
def test_what_is_sent_folds_to_what_the_events_fold_to(evs: list[ChapterProgress]) -> None:
    sent = queue(list(evs), merge_window=120.0)
    assert all(isinstance(e, ChapterProgress) for e in sent)
    assert server_view(sent) == server_view(evs)  # type: ignore[arg-type]
    assert len(sent) <= len(evs)
