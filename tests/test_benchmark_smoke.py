"""The benchmark harness still runs end to end (a smoke run: seconds, no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_the_benchmark_runner_produces_its_report(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--workload", "burst", "--seconds", "1",
         "--warmup", "0.5", "--workers", "1", "--clients", "2", "--probes", "1",
         "--json", str(out)],
        check=True, timeout=240, capture_output=True,
    )
    report = json.loads(out.read_text())
    assert report["waymark"]["ingest"]["accepted"] > 0
    assert report["naive"]["accepted"] > 0
    assert report["merge_ceiling"]["events_per_s"] > 0
    assert report["apply_ceiling"]["rows_per_s"] > 0
    assert report["waymark"]["keys_per_batch"] > 0
    assert set(report["ratios"]) == {"waymark_over_naive", "ingest_over_merge_ceiling",
                                     "workers_over_apply_ceiling"}


def test_the_apply_cost_harness_reports_both_sides_per_row() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.apply_cost", "--learners", "2", "5", "--rows", "80"],
        check=True, timeout=240, capture_output=True, text=True,
    )
    first, second = json.loads(done.stdout.strip().splitlines()[-1])
    assert (first["keys_per_batch"], second["keys_per_batch"]) == (16, 40)
    assert first["rows"] == 80 and second["rows"] == 80
    assert first["python_cpu_us_per_row"] > 0 and first["postgres_cpu_us_per_row"] > 0


def test_the_merge_cost_harness_reports_redis_and_client_cpu_per_event() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.merge_cost", "--requests", "40", "--events", "20"],
        check=True, timeout=240, capture_output=True, text=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["requests"] == 40 and report["events_per_request"] == 20
    assert report["shards_per_request"] > 1  # the requests span shards, as the heartbeat's do
    assert report["merge_redis_cpu_us_per_event"] > 0
    assert report["merge_client_cpu_us_per_event"] > 0
