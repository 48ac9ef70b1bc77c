"""The servers' garbage-collector tuning."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from waymark.runtime import GC_GEN0_THRESHOLD, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_tuning_freezes_what_is_alive_and_collects_young_objects_less_often() -> None:
    gen1, gen2 = gc.get_threshold()[1:]
    alive: list[int] = []
    assert any(alive is o for o in gc.get_objects())  # tracked: walked by every collection
    tune_gc()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
    assert not any(alive is o for o in gc.get_objects())  # frozen: not walked any more
    assert gc.get_threshold() == (GC_GEN0_THRESHOLD, gen1, gen2)
    before = gc.get_count()[0]
    keep = [[] for _ in range(1000)]  # 1 000 young containers: no collection yet
    assert gc.get_count()[0] >= before + 1000 and len(keep) == 1000
