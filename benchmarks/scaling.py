"""The scaling table and the cost model: ``benchmarks.run`` over workers by Redis masters.

    .venv/bin/python -m benchmarks.scaling --workload heartbeat --seconds 10

Runs ``benchmarks.run --only-waymark`` once per (workers, masters) pair — 1, 2 and 4 workers on
one Redis and on a Redis Cluster of 3 masters by default — each on fresh servers, and prints a
markdown table: accepted and applied events/s, ingest p99, lag, and the CPU each stage spent per
accepted event (µs). From the CPU per event it derives the cores each stage needs for a target
rate at a utilisation the operator chooses (``--target``, ``--utilisation``), so the machines a
load needs follow from what was measured, not from a guess.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

STAGES = ("serve", "workers", "redis", "postgres")


def run_once(workload: str, seconds: float, workers: int, masters: int,
             tries: int = 2) -> dict[str, Any]:
    """One ``benchmarks.run``; a run that fails (a port taken by another process between
    choosing and binding it) is tried again, and its log shown."""
    for attempt in range(1, tries + 1):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run.json"
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.run", "--workload", workload, "--seconds",
                 str(seconds), "--workers", str(workers), "--redis-masters", str(masters),
                 "--only-waymark", "--probes", "5", "--json", str(out)],
                check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if done.returncode == 0:
                report: dict[str, Any] = json.loads(out.read_text())["waymark"]
                return report
        print(f"run {workers}x{masters} failed (try {attempt}):\n{done.stderr[-3000:]}",
              file=sys.stderr)
    raise SystemExit(f"benchmarks.run failed {tries} times for {workers}x{masters}")


def row(workers: int, masters: int, r: dict[str, Any]) -> str:
    cost = r["cpu_us_per_event"]
    lag = r["event_lag"]
    return (f"| {workers} | {masters} | {r['ingest']['accepted_per_s']:,} | "
            f"{r['applied_events_per_s']:,} | {r['ingest']['latency_ms']['p99']} ms | "
            f"≤ {lag.get('p50_le_s', '?')} / ≤ {lag.get('p99_le_s', '?')} s | "
            + " | ".join(f"{cost.get(s, 0)}" for s in STAGES) + " |").replace(",", " ")


def cores_needed(cost_us: dict[str, float], rate: float, utilisation: float) -> dict[str, int]:
    """Cores per stage to carry ``rate`` events/s with each core busy ``utilisation`` of the
    time, from the measured CPU-µs per event."""
    return {s: max(1, math.ceil(rate * cost_us.get(s, 0.0) / 1e6 / utilisation)) for s in STAGES}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", choices=["heartbeat", "burst"], default="heartbeat")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--masters", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--target", type=float, nargs="+", default=[10_000, 100_000],
                    help="events/s to size for")
    ap.add_argument("--utilisation", type=float, default=0.6)
    ap.add_argument("--json", type=Path, help="also write every run's report here")
    args = ap.parse_args()
    runs = {(w, m): run_once(args.workload, args.seconds, w, m)
            for m in args.masters for w in args.workers}
    if args.json:
        args.json.write_text(json.dumps({f"{w}x{m}": r for (w, m), r in runs.items()}, indent=2))
    print(f"workload {args.workload}, {args.seconds:g} s per run\n")
    print("| workers | Redis masters | accepted/s | applied/s | ingest p99 | lag p50 / p99 | "
          + " | ".join(f"{s} µs/event" for s in STAGES) + " |")
    print("|---" * (6 + len(STAGES)) + "|")
    for (w, m), r in runs.items():
        print(row(w, m, r))
    # The cost model: the least CPU per event each stage showed over the runs (the runs that
    # waited least on the others), summed into cores for each target rate.
    cost = {s: min(r["cpu_us_per_event"].get(s, math.inf) for r in runs.values())
            for s in STAGES}
    print("\n| stage | CPU-µs per event | " + " | ".join(
        f"cores for {t:,.0f}/s" for t in args.target) + " |")
    print("|---" * (2 + len(args.target)) + "|")
    sized = {t: cores_needed(cost, t, args.utilisation) for t in args.target}
    for s in STAGES:
        print(f"| {s} | {cost[s]} | " + " | ".join(str(sized[t][s]) for t in args.target) + " |")
    print(f"\n(cores at {args.utilisation:.0%} busy)")


if __name__ == "__main__":
    main()
