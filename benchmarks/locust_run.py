"""Run the Locust learner load test (``benchmarks/locustfile.py``) and print its result table.

    .venv/bin/python -m benchmarks.locust_run --users 50 --seconds 60 --learners 100

Without ``--url`` it starts a fresh stack first: ``waymark up`` with its data (embedded Redis and
PostgreSQL) in a temporary directory, on free ports, with a key of every scope, and stops it at
the end. With ``--url`` it uses a running server and ``WAYMARK_KEY`` (and ``WAYMARK_ADMIN_KEY``)
from the environment. Locust runs headless with ``--csv``; the table is read from that CSV, and
accepted events/s from the server's ``waymark_ingest_events_total`` before and after the run.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from devstack.servers import free_port

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
PERCENTILES = ("50%", "95%", "99%")


def locust_command(url: str, csv_prefix: Path, users: int, spawn_rate: float,
                   seconds: float) -> list[str]:
    """``locust`` headless against ``url``, statistics to ``{csv_prefix}_stats.csv``."""
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", url, "--headless",
            "-u", str(users), "-r", str(spawn_rate), "-t", f"{seconds:g}s",
            "--csv", str(csv_prefix), "--only-summary"]


def read_stats(csv_prefix: Path) -> dict[str, dict[str, str]]:
    """Rows of Locust's ``_stats.csv`` by ``"TYPE name"`` (``"Aggregated"`` for the total)."""
    with Path(f"{csv_prefix}_stats.csv").open(newline="") as f:
        return {f"{row['Type']} {row['Name']}".strip(): row for row in csv.DictReader(f)}


def read_sdk_totals(csv_prefix: Path) -> dict[str, int]:
    """The SDK clients' counters summed over the run (the locustfile's ``_sdk.csv``)."""
    path = Path(f"{csv_prefix}_sdk.csv")
    if not path.exists():
        return {}
    with path.open(newline="") as f:
        header, values = list(csv.reader(f))
    return dict(zip(header, map(int, values), strict=True))


def accepted_events(url: str) -> float:
    """The server's count of accepted events so far."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(s.value for family in text_string_to_metric_families(text)
               for s in family.samples
               if s.name == "waymark_ingest_events_total" and s.labels.get("result") == "accepted")


def table(stats: dict[str, dict[str, str]]) -> str:
    """Markdown: one row per request kind, the total last."""
    lines = ["| request | count | failures | req/s | p50 / p95 / p99 ms | max ms |",
             "|---|---|---|---|---|---|"]
    for name, row in sorted(stats.items(), key=lambda kv: kv[0] == "Aggregated"):
        pcts = " / ".join(row[p] for p in PERCENTILES)
        lines.append(f"| {name} | {row['Request Count']} | {row['Failure Count']} | "
                     f"{float(row['Requests/s']):.1f} | {pcts} | "
                     f"{float(row['Max Response Time']):.0f} |")
    return "\n".join(lines)


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Wait until ``url/ready`` answers 200 while ``proc`` runs (a first ``initdb`` is slow)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"waymark up exited ({proc.returncode})")
        with (contextlib.suppress(urllib.error.URLError, ConnectionError),
              urllib.request.urlopen(f"{url}/ready", timeout=2) as r):
            if r.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} was not ready in {timeout} s")


@contextlib.contextmanager
def fresh_stack(workers: int, key: str, log: Path) -> Iterator[str]:
    """``waymark up`` on free ports with its data in a temporary directory; yields its URL."""
    root = Path(tempfile.mkdtemp(prefix="waymark-locust-"))
    root.chmod(0o755)  # PostgreSQL runs as `postgres` when we are root: it must enter this dir
    port = free_port()
    env = dict(os.environ, WAYMARK_DATA_DIR=str(root / "data"), WAYMARK_HTTP_PORT=str(port),
               WAYMARK_WORKERS=str(workers), WAYMARK_WORKER_METRICS_PORT=str(free_port()),
               WAYMARK_API_KEYS=f"locust:{key}:ingest+read+admin", WAYMARK_LOG_LEVEL="warning",
               WAYMARK_METRICS_LISTEN="api")  # scraped on the API port
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "waymark", "up"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)  # as Ctrl-C: the stack stops its children cleanly
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)


def run(url: str, args: argparse.Namespace, env: dict[str, str]) -> str:
    """One Locust run against ``url``; returns the report."""
    args.out.mkdir(parents=True, exist_ok=True)
    prefix = args.out / "locust"
    before = accepted_events(url)
    subprocess.run(locust_command(url, prefix, args.users, args.spawn_rate, args.seconds),
                   env=env, check=False)
    accepted = accepted_events(url) - before
    stats, sdk = read_stats(prefix), read_sdk_totals(prefix)
    total = stats["Aggregated"]
    # Locust's req/s is over first to last request; events/s are over the same window.
    window = int(total["Request Count"]) / float(total["Requests/s"])
    return "\n".join([
        table(stats), "",
        f"window (first to last request): {window:.1f} s",
        f"events accepted by the server: {accepted:.0f} = {accepted / window:.0f} events/s",
        f"events made by learners (SDK enqueued): {sdk.get('enqueued', 0)} = "
        f"{sdk.get('enqueued', 0) / window:.0f} events/s",
        f"SDK: {', '.join(f'{k}={v}' for k, v in sdk.items())}",
        f"CSV: {prefix}_*.csv",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (default: start a fresh stack)")
    parser.add_argument("--users", type=int, default=50, help="Locust users (platform backends)")
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--learners", type=int, default=20, help="learners per Locust user")
    parser.add_argument("--heartbeat-s", type=float, default=10, help="see the locustfile")
    parser.add_argument("--workers", type=int, default=2, help="workers of a fresh stack")
    parser.add_argument("--out", type=Path, default=Path("/tmp/waymark-locust"),
                        help="directory of the CSV files and the stack's log")
    args = parser.parse_args()
    env = dict(os.environ, WAYMARK_LEARNERS=str(args.learners),
               WAYMARK_HEARTBEAT_S=str(args.heartbeat_s))
    if args.url:
        print(run(args.url.rstrip("/"), args, env))
        return
    key = secrets.token_urlsafe(24)
    env.update(WAYMARK_KEY=key, WAYMARK_ADMIN_KEY=key)
    args.out.mkdir(parents=True, exist_ok=True)
    with fresh_stack(args.workers, key, args.out / "stack.log") as url:
        print(run(url, args, env))


if __name__ == "__main__":
    main()
