"""The flush and retry rules, as pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from waymark_client.policy import (
    Verdict,
    classify,
    flush_due,
    full_jitter_backoff,
    parse_retry_after,
    retry_delay,
    within_budget,
)


@pytest.mark.parametrize("status", [None, 408, 429, 500, 502, 503, 504])
def test_network_errors_5xx_408_and_429_are_retried(status: int | None) -> None:
    assert classify(status) is Verdict.RETRY


@pytest.mark.parametrize("status", [301, 400, 401, 403, 404, 409, 413, 415, 422])
def test_other_answers_below_500_are_final(status: int) -> None:
    assert classify(status) is Verdict.FINAL


@pytest.mark.parametrize("status", [200, 202])
def test_2xx_is_delivered(status: int) -> None:
    assert classify(status) is Verdict.DELIVERED


@given(
    attempt=st.integers(0, 10_000),
    base=st.floats(0.01, 10),
    cap=st.floats(0.01, 100),
    rand01=st.floats(0, 1, exclude_max=True),
)
def test_full_jitter_stays_between_zero_and_the_capped_exponential(
    attempt: int, base: float, cap: float, rand01: float
) -> None:
    delay = full_jitter_backoff(attempt, base=base, cap=cap, rand01=rand01)
    assert 0 <= delay <= min(cap, base * 2.0 ** min(attempt, 60))


def test_backoff_doubles_until_the_cap() -> None:
    ceilings = [full_jitter_backoff(a, base=0.5, cap=4, rand01=0.999999) for a in range(6)]
    assert [round(c, 2) for c in ceilings] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_retry_after_in_seconds_and_as_an_http_date() -> None:
    assert parse_retry_after("3", now_epoch=0) == 3.0
    assert parse_retry_after(" 1.5 ", now_epoch=0) == 1.5
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", now_epoch=4.0) == 6.0


@pytest.mark.parametrize("value", [None, "", "soon", "nan"])
def test_a_missing_or_unreadable_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, now_epoch=0) is None


def test_a_retry_after_in_the_past_means_now() -> None:
    assert parse_retry_after("-5", now_epoch=0) == 0.0


def test_retry_after_is_a_floor_never_undercut_by_jitter() -> None:
    delay = retry_delay(0, 2.0, base=0.5, cap=30, retry_after_max=60, rand01=0.0)
    assert delay == 2.0


def test_retry_after_is_clamped_so_a_server_cannot_park_the_client() -> None:
    delay = retry_delay(0, 86_400.0, base=0.5, cap=30, retry_after_max=60, rand01=0.0)
    assert delay == 60.0


def test_without_retry_after_the_delay_is_the_jittered_backoff() -> None:
    assert retry_delay(3, None, base=0.5, cap=30, retry_after_max=60, rand01=0.5) == 2.0


def test_the_budget_counts_time_spent_plus_the_next_wait() -> None:
    assert within_budget(elapsed=50, delay=10, budget=60)
    assert not within_budget(elapsed=50, delay=10.5, budget=60)


def flush(**kw: object) -> bool:
    args: dict[str, object] = {
        "count": 1,
        "nbytes": 100,
        "oldest_age": 0.0,
        "flush_at": 100,
        "max_batch_bytes": 1000,
        "flush_interval": 5.0,
        "flush_requested": False,
    }
    args.update(kw)
    return flush_due(**args)  # type: ignore[arg-type]


def test_flush_is_due_by_count_bytes_age_or_request_and_never_when_empty() -> None:
    assert not flush()
    assert flush(count=100)
    assert flush(nbytes=1000)
    assert flush(oldest_age=5.0)
    assert flush(flush_requested=True)
    assert not flush(count=0, flush_requested=True)
