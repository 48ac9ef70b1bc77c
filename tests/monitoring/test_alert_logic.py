"""Alert evaluation, quantiles and counter histories, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from structlog.testing import capture_logs

from monitoring import alerts as a
from monitoring.fleet import COUNTERS, CounterHistory, FleetTotals, WorkerReport, heartbeat_age_s
from monitoring.queue import pending_age_s
from waymark.settings import Settings

T0 = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)


def test_the_quantile_interpolates_inside_its_bucket_as_prometheus_does() -> None:
    bounds = (1.0, 2.0, 4.0)
    assert a.histogram_quantile(0.5, bounds, (0, 10, 10, 10)) == 1.5
    assert a.histogram_quantile(0.99, bounds, (0, 0, 0, 0)) is None
    assert a.histogram_quantile(0.99, bounds, (0, 0, 0, 5)) == 4.0  # +Inf: highest bound


def test_each_alert_fires_above_its_threshold_and_logs_each_change_once() -> None:
    book = a.AlertBook(a.thresholds(Settings(alert_queue_depth=100)))
    calm: dict[str, float | None] = {name: 0.0 for name in a.ALERTS}
    with capture_logs() as logs:
        book.update(calm, T0)
        book.update({**calm, a.QUEUE_DEPTH: 101}, T0 + timedelta(seconds=5))
        states = book.update({**calm, a.QUEUE_DEPTH: 150}, T0 + timedelta(seconds=10))
        book.update(calm, T0 + timedelta(seconds=15))
    depth = next(s for s in states if s.name == a.QUEUE_DEPTH)
    assert (depth.state, depth.value, depth.threshold) == ("firing", 150, 100)
    assert depth.since == "2026-11-22T01:00:05Z"
    assert [(e["event"], e["alert"]) for e in logs] == [
        ("alert_firing", a.QUEUE_DEPTH), ("alert_resolved", a.QUEUE_DEPTH)]


def test_no_worker_reporting_at_all_is_a_firing_heartbeat_alert() -> None:
    book = a.AlertBook(a.thresholds(Settings()))
    states = {s.name: s for s in book.update({a.HEARTBEAT: None}, T0)}
    assert states[a.HEARTBEAT].state == "firing"
    assert states[a.LAG_P99].state == "ok"  # no lag observed is no lag alert


def test_heartbeat_age_is_that_of_the_stalest_worker_that_has_ticked() -> None:
    reports = [WorkerReport("0", 100.0, ()), WorkerReport("1", 90.0, ()),
               WorkerReport("2", 0.0, ())]
    assert heartbeat_age_s(reports, now=130.0) == 40.0
    assert heartbeat_age_s([], now=130.0) is None


def test_fleet_totals_keep_counting_across_a_worker_restart() -> None:
    def counters(errors: float, flushes: float) -> tuple[float, ...]:
        return (errors, flushes) + (0.0,) * (COUNTERS - 2)

    totals = FleetTotals()
    assert totals.update([]) == counters(0, 0)
    totals.update([WorkerReport("0", 1, counters(5, 10))])
    totals.update([WorkerReport("0", 2, counters(7, 20)), WorkerReport("1", 2, counters(1, 1))])
    assert totals.update([WorkerReport("0", 3, counters(1, 2))]) == counters(9, 23)  # restart


def test_a_counter_history_gives_the_increase_over_the_window() -> None:
    h = CounterHistory(keep_s=100)
    for t in range(0, 200, 10):
        h.add(float(t), (float(t) * 2,))
    assert h.increase(50) == (100.0,)
    assert h.samples[0][0] >= 80  # older samples than needed are dropped


def test_pending_age_counts_back_the_merge_window_from_the_due_time() -> None:
    assert pending_age_s(now_ms=10_000, due_ms=9_000, merge_window_ms=2_000) == 3.0
    assert pending_age_s(now_ms=10_000, due_ms=15_000, merge_window_ms=2_000) == 0.0
