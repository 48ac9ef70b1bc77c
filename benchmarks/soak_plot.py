"""Draw a soak's time series (the JSON of ``benchmarks.soak --json``) as one PNG.

    .venv/bin/python -m benchmarks.soak_plot soak.json benchmarks/soak.png

Six panels over the minutes of the run: accepted events/s against the offered rate; pending
keys and the oldest pending age; event lag p99; milliseconds per call of the statements that
took the most time in all; dead tuples per written table (autovacuum runs marked); the size of
each written table. A cost that grows with the database shows as a line that climbs while the
rate stays level.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: draw straight to a file
import matplotlib.pyplot as plt

STATEMENTS_SHOWN = 6
TABLES_SHOWN = ("chapter_progress", "course_progress", "user_summary", "daily_activity",
                "learner_sessions", "chapter_event_log")


def statement_series(samples: list[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """Per statement, (minute, ms per call) for the statements with the most time in all."""
    total: dict[str, float] = defaultdict(float)
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for s in samples:
        for st in s.get("postgres", {}).get("statements", []):
            total[st["statement"]] += st["ms"]
            series[st["statement"]].append((s["t_s"] / 60, st["ms_per_call"]))
    top = sorted(total, key=lambda k: -total[k])[:STATEMENTS_SHOWN]
    return {k: series[k] for k in top}


def table_series(samples: list[dict[str, Any]], field: str) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for s in samples:
        for name, t in s.get("postgres", {}).get("tables", {}).items():
            if name in TABLES_SHOWN and t.get(field) is not None:
                out[name].append((s["t_s"] / 60, t[field]))
    return out


def vacuum_minutes(samples: list[dict[str, Any]]) -> dict[str, list[float]]:
    """The sample minutes at which each table's autovacuum count went up."""
    out: dict[str, list[float]] = defaultdict(list)
    last: dict[str, int] = {}
    for s in samples:
        for name, t in s.get("postgres", {}).get("tables", {}).items():
            if name in last and t["autovacuums"] > last[name]:
                out[name].append(s["t_s"] / 60)
            last[name] = t["autovacuums"]
    return out


def plot(report: dict[str, Any], out: Path) -> None:
    samples = [s for s in report["samples"] if s.get("under_load", True)]
    minutes = [s["t_s"] / 60 for s in samples]
    fig, ax = plt.subplots(3, 2, figsize=(14, 12), sharex=True)
    fig.suptitle(f"Soak: {report['workload']} at {report['offered_per_s']:.0f} events/s offered, "
                 f"{report['minutes']:g} min, {report['workers']} workers")

    a = ax[0][0]
    a.plot(minutes[1:], [s.get("accepted_per_s", 0) for s in samples[1:]], label="accepted/s")
    a.axhline(report["offered_per_s"], color="grey", linestyle="--", label="offered/s")
    a.set_ylabel("events/s")
    a.legend(loc="lower right")
    a.set_title("Accepted rate")

    a = ax[0][1]
    a.plot(minutes, [s["pending_keys"] for s in samples], color="tab:blue", label="pending keys")
    a.set_ylabel("pending keys", color="tab:blue")
    b = a.twinx()
    b.plot(minutes, [s["oldest_pending_s"] for s in samples], color="tab:red",
           label="oldest pending (s)")
    b.set_ylabel("oldest pending (s)", color="tab:red")
    a.set_title("Merge buffer")

    a = ax[1][0]
    a.step(minutes, [s["lag_p99_le_s"] for s in samples], where="post", label="bucket bound")
    if all("lag_p99_s" in s for s in samples):
        a.plot(minutes, [s["lag_p99_s"] for s in samples], label="interpolated")
    a.set_ylabel("seconds")
    a.legend(loc="lower right")
    a.set_title("Event lag p99, per interval")

    a = ax[1][1]
    for label, pts in statement_series(samples).items():
        a.plot([m for m, _ in pts], [v for _, v in pts], label=label[:48])
    a.set_ylabel("ms per call")
    a.set_title("Statements with the most time in all")
    a.legend(fontsize=7, loc="upper left")

    a = ax[2][0]
    vacuums = vacuum_minutes(samples)
    for name, pts in table_series(samples, "dead").items():
        line, = a.plot([m for m, _ in pts], [v for _, v in pts], label=name)
        for m in vacuums.get(name, []):
            a.axvline(m, color=line.get_color(), alpha=0.3, linewidth=0.8)
    a.set_ylabel("dead tuples")
    a.set_xlabel("minutes")
    a.set_title("Dead tuples (vertical lines: autovacuum)")
    a.legend(fontsize=7, loc="upper left")

    a = ax[2][1]
    for name, pts in table_series(samples, "mb").items():
        a.plot([m for m, _ in pts], [v for _, v in pts], label=name)
    a.set_ylabel("MB (with indexes)")
    a.set_xlabel("minutes")
    a.set_title("Table size")
    a.legend(fontsize=7, loc="upper left")

    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", type=Path, help="the JSON written by benchmarks.soak --json")
    ap.add_argument("png", type=Path)
    a = ap.parse_args()
    plot(json.loads(a.report.read_text()), a.png)
    print(a.png)
