"""What must hold across processes: a SIGKILL with a spool, interpreter exit, fork()."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from waymark_client import ProgressClient

from .stub import StubServer

ROOT = Path(__file__).resolve().parents[2]


def python(code: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> list[str]:
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    return out.split()


def test_a_process_killed_with_a_spool_sends_its_events_on_the_next_start(
    stub: StubServer, dead_url: str, tmp_path: Path
) -> None:
    spool = tmp_path / "events.spool"
    proc = python(f"""
        import sys, time
        from waymark_client import ProgressClient
        client = ProgressClient("k", base_url="{dead_url}", spool_path="{spool}")
        for n in range(5):
            print(client.viewed(f"u{{n}}", "c"))
        client.progress("u", "c", "ch", 10, time_spent_s=5)
        print(client.progress("u", "c", "ch", 20, time_spent_s=5), "ready", flush=True)
        time.sleep(60)
    """)
    assert proc.stdout is not None
    ids = []
    while "ready" not in ids:
        ids.extend(proc.stdout.readline().split())
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    ids.remove("ready")

    client = ProgressClient("k", base_url=stub.url, spool_path=str(spool), flush_interval=0.1)
    try:
        received = stub.wait_for(6)
        assert sorted(e["id"] for e in received) == sorted(ids)
        assert [e["seq"] for e in received] == [1, 2, 3, 4, 5, 6]
        assert received[-1]["time_spent_s"] == 10.0
        assert client.flush(2.0)
    finally:
        client.close()
    restarted = ProgressClient("k", base_url=stub.url, spool_path=str(spool))
    restarted.viewed("u-next", "c")
    restarted.close()
    assert len(stub.ids()) == 7 and stub.received[-1]["seq"] == 7


def test_events_queued_at_interpreter_exit_are_delivered(stub: StubServer) -> None:
    out = finish(
        python(f"""
        from waymark_client import ProgressClient
        client = ProgressClient("k", base_url="{stub.url}", flush_interval=60)
        for n in range(3):
            print(client.viewed(f"u{{n}}", "c"))
    """)
    )
    assert sorted(stub.ids()) == sorted(out)


@pytest.mark.parametrize("with_spool", [False, True])
def test_a_child_after_fork_sends_its_own_events_and_not_the_parents(
    stub: StubServer, tmp_path: Path, with_spool: bool
) -> None:
    spool = repr(str(tmp_path / "fork.spool")) if with_spool else "None"
    out = finish(
        python(f"""
        import os, sys
        from waymark_client import ProgressClient
        client = ProgressClient("k", base_url="{stub.url}", flush_interval=60, spool_path={spool})
        parent = [client.viewed(f"p{{n}}", "c") for n in range(3)]
        pid = os.fork()
        if pid == 0:
            child = [client.viewed(f"c{{n}}", "c") for n in range(2)]
            print("child", *child, flush=True)
            sys.exit(0)  # the exit hook flushes the child's client
        _, status = os.waitpid(pid, 0)
        assert status == 0, status
        client.close()
        print("parent", *parent)
    """)
    )
    child = out[1:3]
    parent = out[4:]
    assert out[0] == "child" and out[3] == "parent"
    ids = stub.ids()
    assert sorted(ids) == sorted(parent + child)
    by_id = {e["id"]: e for e in stub.received}
    assert by_id[child[0]]["source_id"] != by_id[parent[0]]["source_id"]
