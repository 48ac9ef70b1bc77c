"""PostgreSQL's cumulative counters turned into per-interval figures for the benchmarks."""

from __future__ import annotations

from typing import Any

from benchmarks.pgstats import statement_interval, statement_label, table_interval


def counters(upd: int, hot: int, ins: int, dead: int, vacuums: int) -> dict[str, int]:
    return {"n_live_tup": 1000, "n_dead_tup": dead, "n_tup_ins": ins, "n_tup_upd": upd,
            "n_tup_hot_upd": hot, "n_tup_del": 0, "autovacuum_count": vacuums,
            "autoanalyze_count": 0, "bytes": 3 * 2**20}


def test_a_table_interval_counts_only_what_happened_between_the_readings() -> None:
    before = {"chapter_progress": counters(upd=100, hot=10, ins=50, dead=90, vacuums=1)}
    after = {"chapter_progress": counters(upd=300, hot=190, ins=80, dead=40, vacuums=2),
             "course_progress": counters(upd=0, hot=0, ins=5, dead=0, vacuums=0)}
    out = table_interval(before, after, ("chapter_progress", "course_progress", "missing"))
    assert out["chapter_progress"] == {"inserted": 30, "updated": 200, "hot_ratio": 0.9,
                                       "live": 1000, "dead": 40, "autovacuums": 2, "mb": 3.0}
    assert out["course_progress"]["hot_ratio"] is None  # no update: no ratio, not 0
    assert out["course_progress"]["inserted"] == 5  # a table first seen counts from zero
    assert "missing" not in out


def statement(calls: int, ms: float, rows: int, query: str) -> dict[str, Any]:
    return {"calls": calls, "ms": ms, "rows": rows, "query": query}


def test_statements_are_ranked_by_time_in_the_interval_and_idle_ones_left_out() -> None:
    before = {1: statement(10, 100.0, 10, "UPDATE a"), 2: statement(5, 5.0, 5, "SELECT b")}
    after = {1: statement(20, 130.0, 30, "UPDATE a"), 2: statement(5, 5.0, 5, "SELECT b"),
             3: statement(4, 80.0, 8, "INSERT\n   INTO   c")}
    out = statement_interval(before, after, top=5)
    assert [r["statement"] for r in out] == ["INSERT INTO c", "UPDATE a"]
    assert out[0] == {"statement": "INSERT INTO c", "calls": 4, "ms": 80.0, "ms_per_call": 20.0,
                      "rows_per_call": 2.0}
    assert out[1]["ms_per_call"] == 3.0 and out[1]["rows_per_call"] == 2.0
    assert statement_interval(before, after, top=1) == out[:1]
    assert len(statement_label("x " * 100)) == 70
