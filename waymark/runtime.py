"""Process-wide tuning of the long-running servers (``waymark serve``, ``waymark worker``)."""

from __future__ import annotations

import gc

GC_GEN0_THRESHOLD = 50_000
"""Container objects allocated (net) between two young collections; Python's default is 700."""


def tune_gc() -> None:
    """Make the cyclic garbage collector cheap for a server that allocates objects in bulk.

    A flush allocates a few tuples, lists and structs per event and frees nearly all of them by
    reference counting. With the default thresholds the collector still ran every 700
    allocations and, every few seconds, walked every object of the process, the imported
    modules' included (``benchmarks.apply_cost`` at 376 rows per batch: Python's CPU per row
    falls by about 5 % with this tuning). Everything alive once the process has started
    (modules, settings) is frozen out of the collector's walks, and young collections run
    every ``GC_GEN0_THRESHOLD`` allocations: garbage in reference cycles waits a little longer,
    a few MB at most.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)
