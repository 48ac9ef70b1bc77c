"""The on-disk spool: slots, adoption of abandoned slots, outages longer than the budget."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import get_type_hints

import pytest

from waymark_client import ClientOptions, ProgressClient
from waymark_client.base import Options
from waymark_client.spool import Spool

from .stub import Fault, StubServer


def test_two_live_processes_never_share_a_slot(tmp_path: Path) -> None:
    base = str(tmp_path / "s")
    first, second = Spool.claim(base), Spool.claim(base)
    try:
        assert (first.path, second.path) == (base, base + ".1")
        assert first.source_id != second.source_id
    finally:
        first.close()
        second.close()


def test_a_new_owner_adopts_abandoned_slots_and_never_reuses_their_seqs(tmp_path: Path) -> None:
    base = str(tmp_path / "s")
    a, b, c = Spool.claim(base), Spool.claim(base), Spool.claim(base)
    c.insert(7, b'{"id":"x"}')
    c_source, c_path = c.source_id, c.path
    c.close()
    b.close()
    d = Spool.claim(base)
    try:
        assert d.path == base + ".1"
        assert [body for _, body in d.rows()] == [b'{"id":"x"}']
    finally:
        d.close()
    e = Spool.claim(base)
    f = Spool.claim(base)
    try:
        assert f.path == c_path and f.source_id == c_source and f.next_seq == 8
        assert f.rows() == []
    finally:
        f.close()
        e.close()
        a.close()


def test_with_a_spool_an_outage_longer_than_the_budget_loses_nothing(
    stub: StubServer, tmp_path: Path
) -> None:
    stub.always = Fault(503, "0.05")
    client = ProgressClient(
        "k",
        base_url=stub.url,
        spool_path=str(tmp_path / "s"),
        retry_budget=0.2,
        backoff_base=0.05,
        backoff_max=0.2,
    )
    try:
        ids = {client.viewed(f"u{n}", "c") for n in range(5)}
        assert client.flush(0.6) is False
        assert client.stats().deferred >= 5 and client.stats().failed == 0
        stub.always = None
        assert client.flush(3.0)
        assert sorted(stub.ids()) == sorted(ids)
    finally:
        client.close()


def test_the_spool_is_bounded_by_max_queue_size(dead_url: str, tmp_path: Path) -> None:
    client = ProgressClient(
        "k", base_url=dead_url, spool_path=str(tmp_path / "s"), max_queue_size=3
    )
    for n in range(5):
        client.viewed(f"u{n}", "c")
    assert client.stats().dropped == 2
    client.close(timeout=0.1)
    reopened = Spool.claim(str(tmp_path / "s"))
    try:
        assert len(reopened.rows()) == 3
    finally:
        reopened.close()


def test_every_option_can_be_passed_to_the_clients() -> None:
    option_names = {f.name for f in fields(ClientOptions)} - {"api_key"}
    assert set(get_type_hints(Options)) == option_names


@pytest.mark.parametrize(
    "bad",
    [
        {"flush_at": 0},
        {"flush_at": 1001},
        {"max_batch_bytes": 10},
        {"on_full": "wait"},
        {"base_url": "ftp://x"},
        {"timeout": 0},
    ],
)
def test_unusable_options_are_refused_at_construction(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ClientOptions(api_key="k", **bad)  # type: ignore[arg-type]
