"""Flush and retry policy as pure functions: no clock, no randomness, no I/O of their own.

Callers pass ``now`` and a uniform random number, so every rule is unit-tested exactly.
"""

from __future__ import annotations

import email.utils
import math
from enum import Enum


class Verdict(Enum):
    """What an HTTP answer (or its absence) means for the batch."""

    DELIVERED = "delivered"
    RETRY = "retry"
    FINAL = "final"


def classify(status: int | None) -> Verdict:
    """Network errors (``None``), 5xx, 408 and 429 are retried; other 4xx/3xx are final."""
    if status is None or status >= 500 or status in (408, 429):
        return Verdict.RETRY
    if 200 <= status < 300:
        return Verdict.DELIVERED
    return Verdict.FINAL


def flush_due(
    *,
    count: int,
    nbytes: int,
    oldest_age: float | None,
    flush_at: int,
    max_batch_bytes: int,
    flush_interval: float,
    flush_requested: bool,
) -> bool:
    """Whether the pending events should be sent now."""
    if count == 0:
        return False
    return (
        flush_requested
        or count >= flush_at
        or nbytes >= max_batch_bytes
        or (oldest_age is not None and oldest_age >= flush_interval)
    )


def seconds_until_due(oldest_age: float, flush_interval: float) -> float:
    """How long until the oldest pending event makes the interval flush due."""
    return max(0.0, flush_interval - oldest_age)


def full_jitter_backoff(attempt: int, *, base: float, cap: float, rand01: float) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base·2^attempt))."""
    # Capping the exponent keeps 2**attempt from overflowing a float on absurd attempt counts.
    return rand01 * min(cap, base * math.pow(2, min(attempt, 60)))


def parse_retry_after(value: str | None, *, now_epoch: float) -> float | None:
    """Seconds asked by a ``Retry-After`` header (delta-seconds or HTTP-date), if any."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - now_epoch
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


def retry_delay(
    attempt: int,
    retry_after: float | None,
    *,
    base: float,
    cap: float,
    retry_after_max: float,
    rand01: float,
) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based).

    Never sooner than the server asked (clamped to ``retry_after_max`` so a misconfigured
    server cannot park the client for hours); the jittered backoff still spreads clients that
    were all told the same ``Retry-After`` when it is short.
    """
    backoff = full_jitter_backoff(attempt, base=base, cap=cap, rand01=rand01)
    if retry_after is None:
        return backoff
    return max(backoff, min(retry_after, retry_after_max))


def within_budget(*, elapsed: float, delay: float, budget: float) -> bool:
    """Whether waiting ``delay`` more seconds keeps the batch inside its total time budget."""
    return elapsed + delay <= budget
