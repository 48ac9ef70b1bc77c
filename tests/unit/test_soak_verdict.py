"""The soak's verdict: judged on samples under load only, by trend, not first against last."""

from __future__ import annotations

from typing import Any

from benchmarks.soak import interpolated_quantile, second_half


def sample(t: float, pending: float, *, under_load: bool = True, oldest: float = 3.0,
           lag: float = 2.5) -> dict[str, Any]:
    return {"t_s": t, "under_load": under_load, "accepted": 5000 * t, "pending_keys": pending,
            "oldest_pending_s": oldest, "lag_p99_le_s": lag, "lag_p99_s": lag,
            "rss_mb": {"serve": 60.0}, "redis_used_mb": 30.0}


def test_a_queue_that_climbs_under_load_is_drifting_even_when_the_last_sample_is_drained() -> None:
    """The case that once read as flat: rising under load, then one sample after the drain."""
    climbing = [sample(60 * i, 10_900 + 250 * i) for i in range(1, 31)]
    drained = sample(60 * 31, 0, under_load=False, oldest=0.0)
    verdict = second_half([*climbing, drained], rate=5000)
    assert verdict["verdict"].startswith("drifting") and "pending_keys" in verdict["verdict"]
    assert verdict["samples_under_load"] == 15
    assert verdict["drift"]["pending_keys"]["change"] > 0


def test_a_queue_that_wobbles_around_a_level_is_flat() -> None:
    wobbling = [sample(60 * i, 12_000 + (300 if i % 2 else -300)) for i in range(1, 31)]
    verdict = second_half(wobbling, rate=5000)
    assert verdict["verdict"] == "flat"
    assert verdict["accepted_over_offered"] == 1.0


def test_lag_p99_is_interpolated_inside_its_bucket() -> None:
    """1 000 events: 900 within 3 s, 980 within 5 s, all within 10 s. The 990th lies in the
    (5, 10] bucket, 10 of its 20 events in: 7.5 s, where the bucket bound says 10."""
    buckets = {1.0: 500.0, 3.0: 900.0, 5.0: 980.0, 10.0: 1000.0, float("inf"): 1000.0}
    assert interpolated_quantile(buckets, 0.99) == 7.5
    assert interpolated_quantile(buckets, 0.5) == 1.0
    assert interpolated_quantile({float("inf"): 0.0}, 0.99) == 0.0
    assert interpolated_quantile({5.0: 10.0, float("inf"): 20.0}, 0.99) == 5.0  # in +Inf
