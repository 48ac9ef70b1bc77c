"""The workers' batch-observed histogram exposes what prometheus-client's own ``Histogram``
exposes for the same values: every bucket, the count and the sum."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram

from monitoring.fleet import LAG_BUCKETS
from workers.metrics import BatchHistogram


def samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {(s.name, s.labels.get("le", "")): s.value
            for family in registry.collect() for s in family.samples
            if not s.name.endswith("_created")}


def both(batches: list[list[float]]) -> tuple[dict[tuple[str, str], float],
                                              dict[tuple[str, str], float]]:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    batch = BatchHistogram("lag_seconds", "lag", LAG_BUCKETS, ours)
    reference = Histogram("lag_seconds", "lag", buckets=LAG_BUCKETS, registry=theirs)
    for values in batches:
        batch.observe_many(values)
        for v in values:
            reference.observe(v)
    return samples(ours), samples(theirs)


def test_a_value_on_a_bound_counts_in_that_bucket_and_one_above_all_in_inf() -> None:
    ours, theirs = both([[0.1, 2.5, 1000.0], [], [0.0]])
    assert ours == theirs
    assert ours[("lag_seconds_bucket", "0.1")] == 2
    assert ours[("lag_seconds_bucket", "2.5")] == 3
    assert ours[("lag_seconds_bucket", "+Inf")] == ours[("lag_seconds_count", "")] == 4


@given(st.lists(st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False)
                         | st.sampled_from(LAG_BUCKETS), max_size=30), max_size=6))
def test_every_sample_matches_prometheus_clients_histogram(batches: list[list[float]]) -> None:
    ours, theirs = both(batches)
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value), key
