"""The worker fault tests, unchanged, with the buffer on a Redis Cluster.

Workers killed between commit and acknowledgement, killed at random moments, stopped mid-flow
and killed inside a late reset's recompute: on three masters as on one Redis, nothing accepted
is lost and nothing is counted twice. (Redis itself failing is the cluster's own test:
``test_failover.py``.)
"""

from tests.faults.test_faults import (
    test_a_worker_killed_between_commit_and_ack_never_counts_twice,
    test_a_worker_stopped_mid_flow_exits_in_bounds_and_loses_nothing,
    test_workers_killed_at_random_moments_lose_nothing,
)
from tests.faults.test_late_reset_crash import (
    test_a_worker_killed_during_a_late_reset_recompute_loses_and_doubles_nothing,
)

__all__ = [
    "test_a_worker_killed_between_commit_and_ack_never_counts_twice",
    "test_a_worker_killed_during_a_late_reset_recompute_loses_and_doubles_nothing",
    "test_a_worker_stopped_mid_flow_exits_in_bounds_and_loses_nothing",
    "test_workers_killed_at_random_moments_lose_nothing",
]
