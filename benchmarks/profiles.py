"""Sampling profiles of a run's processes (py-spy) and their hottest functions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any


def start_profilers(pids: dict[str, list[int]], seconds: float,
                    out: Path) -> list[subprocess.Popen[bytes]]:
    """py-spy on each process, collapsed stacks to ``out``: 100 Hz, native frames off, and only
    samples holding the GIL, so time spent preempted inside a socket call is not counted."""
    out.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    return [subprocess.Popen([str(spy), "record", "-p", str(pid), "-d", str(int(seconds)),
                              "-r", "100", "--gil", "-f", "raw",
                              "-o", str(out / f"{name}-{i}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for name, group in pids.items() for i, pid in enumerate(group)]


def top_frames(path: Path, n: int = 12) -> dict[str, Any]:
    """Self and inclusive share of the hottest functions in a py-spy collapsed-stack file."""
    self_t: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.split(" (")[0] + " (" + f.split(" (")[-1].rsplit(":", 1)[0].split("/")[-1]
                  + ")" for f in stack.split(";")]
        c = int(count)
        total += c
        self_t[frames[-1]] = self_t.get(frames[-1], 0) + c
        for f in set(frames):
            incl[f] = incl.get(f, 0) + c
    def pct(d: dict[str, int]) -> dict[str, float]:
        top = sorted(d.items(), key=lambda kv: -kv[1])[:n]
        return {k: round(100 * v / max(1, total), 1) for k, v in top}
    return {"samples": total, "self_pct": pct(self_t), "inclusive_pct": pct(incl)}
