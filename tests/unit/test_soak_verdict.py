"""The soak's verdict: judged on samples under load only, by trend, not first against last."""

from __future__ import annotations

from typing import Any

from benchmarks.soak import second_half


def sample(t: float, pending: float, *, under_load: bool = True, oldest: float = 3.0,
           lag: float = 2.5) -> dict[str, Any]:
    return {"t_s": t, "under_load": under_load, "accepted": 5000 * t, "pending_keys": pending,
            "oldest_pending_s": oldest, "lag_p99_le_s": lag, "rss_mb": {"serve": 60.0},
            "redis_used_mb": 30.0}


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
