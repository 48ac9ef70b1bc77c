"""Enqueue cost of the client SDK: microseconds per event, median over rounds.

    .venv/bin/python benchmarks/sdk_enqueue.py [--events 20000]

What a caller's thread pays for ``track()``: building the event, checking it against the wire
schema, stamping source/seq, merging, queueing (and, with ``--spool``, one SQLite write). The
sender runs as usual, pointed at a port where nothing listens with no retry budget, so batches
are given up at once instead of piling up; it shares the GIL with the caller, as in production.
"""

from __future__ import annotations

import argparse
import logging
import socket
import statistics
import tempfile
import time
from collections.abc import Callable

from waymark_client import ProgressClient

ROUND = 100


def dead_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def measure(client: ProgressClient, call: Callable[[ProgressClient, int], object], n: int) -> float:
    """Median µs per event over rounds of ``ROUND`` calls."""
    rounds = []
    for start in range(0, n, ROUND):
        t0 = time.perf_counter_ns()
        for i in range(start, start + ROUND):
            call(client, i)
        rounds.append((time.perf_counter_ns() - t0) / ROUND / 1000)
    return statistics.median(rounds)


CASES: dict[str, Callable[[ProgressClient, int], object]] = {
    "viewed (no merge candidate)": lambda c, i: c.viewed(f"u{i}", "py-101"),
    "progress, distinct chapters": lambda c, i: c.progress("u1", "py-101", f"ch-{i}", 50.0),
    "progress, same chapter (merged)": lambda c, i: c.progress(
        "u1", "py-101", "ch-1", i % 100, time_spent_s=0.01
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--spool", action="store_true", help="also measure with a SQLite spool")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # given-up batches would log on every flush
    url = dead_url()
    variants: list[tuple[str, dict[str, object]]] = [("memory", {})]
    tmp = tempfile.TemporaryDirectory()
    if args.spool:
        variants.append(("spool", {"spool_path": f"{tmp.name}/bench.spool"}))
    for variant, extra in variants:
        for name, call in CASES.items():
            client = ProgressClient(
                "bench",
                base_url=url,
                retry_budget=0,
                max_queue_size=10 * args.events,
                flush_at=1000,
                **extra,  # type: ignore[arg-type]
            )
            measure(client, call, min(2000, args.events))  # warm-up
            median = measure(client, call, args.events)
            client.close(timeout=0.5)
            print(f"{variant:7} {name:34} {median:7.2f} µs/event (median of {ROUND}-event rounds)")
    tmp.cleanup()
    segment_side_by_side(url, args.events)


def segment_side_by_side(url: str, n: int) -> None:
    """The same progress event through segment-analytics-python's ``track()``, if installed."""
    try:
        from segment.analytics.client import Client
    except ImportError:
        print("segment-analytics-python not installed (pip install '.[bench]'): no comparison")
        return
    seg = Client("bench", host=url, max_retries=0, max_queue_size=10 * n, upload_size=1000,
                 send=True, sync_mode=False)

    def track(_: object, i: int) -> object:
        return seg.track(user_id="u1", event="chapter_progress",
                         properties={"course_id": "py-101", "chapter_id": f"ch-{i}",
                                     "progress": 50.0})

    logging.disable(logging.CRITICAL)  # its sender logs every refused upload as an error
    measure(seg, track, min(2000, n))  # type: ignore[arg-type]
    median = measure(seg, track, n)  # type: ignore[arg-type]
    seg.shutdown()
    print(f"segment progress, distinct chapters        {median:7.2f} µs/event "
          f"(segment-analytics-python track(), same machine, same run)")


if __name__ == "__main__":
    main()
