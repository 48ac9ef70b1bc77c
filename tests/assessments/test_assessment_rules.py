"""The assessment rules on plain values: counting, grading, scoring, eligibility, changes."""

from __future__ import annotations

from aggregator.assessment import (
    BEFORE_RESET,
    COUNTED,
    IN_COOLDOWN,
    OVER_LIMIT,
    Attempt,
    Question,
    QuizRule,
    assess,
    changes,
    eligibility,
    grade,
    item_outcomes,
)

NONE = -1


def attempt(aid: str, ts: int, score: float, max_score: float = 10, **kw: object) -> Attempt:
    return Attempt(attempt_id=aid, event_id=f"e-{aid}", ts=ts, client_score=score,
                   client_max_score=max_score, **kw)  # type: ignore[arg-type]


def test_attempts_count_in_ts_then_attempt_id_order_whatever_the_input_order() -> None:
    rule = QuizRule(max_attempts=2)
    attempts = [attempt("c", 30, 5), attempt("b", 10, 5), attempt("a", 10, 5)]
    result = assess(rule, attempts, NONE)
    assert {a: g.status for a, g in result.attempts.items()} == {
        "a": COUNTED, "b": COUNTED, "c": OVER_LIMIT
    }
    assert result.summary.attempts_left == 0
    assert result.summary.attempts_total == 3


def test_over_limit_wins_over_cooldown_and_cooldown_runs_from_the_last_counted_attempt() -> None:
    rule = QuizRule(max_attempts=2, cooldown_ms=100)
    attempts = [attempt("1", 0, 5), attempt("2", 50, 5), attempt("3", 120, 5),
                attempt("4", 130, 5)]
    status = {a: g.status for a, g in assess(rule, attempts, NONE).attempts.items()}
    assert status == {"1": COUNTED, "2": IN_COOLDOWN, "3": COUNTED, "4": OVER_LIMIT}


def test_an_attempt_exactly_at_the_end_of_the_cooldown_counts() -> None:
    rule = QuizRule(cooldown_ms=100)
    result = assess(rule, [attempt("1", 0, 5), attempt("2", 100, 5)], NONE)
    assert [g.status for g in result.attempts.values()] == [COUNTED, COUNTED]
    assert result.summary.next_attempt_at == 200


def test_attempts_at_or_before_the_reset_do_not_count() -> None:
    result = assess(QuizRule(max_attempts=1), [attempt("1", 10, 9), attempt("2", 20, 3)], 10)
    assert result.attempts["1"].status == BEFORE_RESET
    assert result.attempts["2"].status == COUNTED
    assert not result.summary.passed
    assert result.summary.attempts_total == 1


def test_only_counted_attempts_pass_and_the_first_counted_pass_is_the_chapter_fact() -> None:
    rule = QuizRule(max_attempts=2, chapter_id="ch-q")
    attempts = [attempt("1", 10, 5), attempt("2", 20, 8), attempt("3", 30, 10)]
    s = assess(rule, attempts, NONE).summary
    assert (s.passed, s.passed_at, s.passed_attempt_id) == (True, 20, "2")
    assert s.fact is not None and (s.fact.chapter_id, s.fact.ts) == ("ch-q", 20)
    assert s.best_percent == 80 and s.last_percent == 80 and s.average_percent == 65


def test_the_catalog_chapter_wins_over_the_events_chapter() -> None:
    a = attempt("1", 10, 9, chapter_id="ch-event")
    s = assess(QuizRule(), [a], NONE).summary
    assert s.fact is not None and s.fact.chapter_id == "ch-event"
    s = assess(QuizRule(chapter_id="ch-cat"), [a], NONE).summary
    assert s.fact is not None and s.fact.chapter_id == "ch-cat"


def test_scoring_keeps_the_best_the_last_or_the_average() -> None:
    attempts = [attempt("1", 1, 9), attempt("2", 2, 4), attempt("3", 3, 5)]
    kept = {m: assess(QuizRule(scoring=m), attempts, NONE).summary for m in ("best", "last",
                                                                             "average")}
    assert (kept["best"].kept_score, kept["best"].kept_percent) == (9, 90)
    assert (kept["last"].kept_score, kept["last"].kept_percent) == (5, 50)
    assert (kept["average"].kept_score, kept["average"].kept_percent) == (6, 60)


def test_the_server_grades_against_the_answer_key_and_ignores_the_clients_passed() -> None:
    rule = QuizRule(passing_score=60, questions=(
        Question("q1", 2, frozenset({"a"})), Question("q2", 1, frozenset({"b", "c"})),
        Question("q3", 1, frozenset({"d"})), Question("essay", 5, None),
    ))
    responses = ({"question_id": "q1", "answer_ids": ["a"]},
                 {"question_id": "q2", "answer_ids": ["c", "b"]},
                 {"question_id": "essay", "text": "..."})
    a = attempt("1", 1, 0, 1, client_passed=False, responses=responses)
    assert grade(rule, a) == (3, 4, None, True)  # q3 unanswered: wrong
    g = assess(rule, [a], NONE).attempts["1"]
    assert (g.score, g.max_score, g.percent, g.passed, g.graded) == (3, 4, 75, True, True)


def test_without_a_key_or_responses_the_clients_figures_stand() -> None:
    keyed = QuizRule(questions=(Question("q1", 1, frozenset({"a"})),))
    a = attempt("1", 1, 9, client_passed=False)
    assert grade(keyed, a) == (9, 10, False, False)
    assert assess(QuizRule(), [a], NONE).attempts["1"].passed is False
    strict = assess(QuizRule(passing_score=95), [attempt("2", 1, 9)], NONE)
    assert strict.attempts["2"].passed is False


def test_eligibility_says_why_and_until_when() -> None:
    s = assess(QuizRule(max_attempts=3, cooldown_ms=1000), [attempt("1", 0, 1)], NONE).summary
    assert eligibility(s, 999) == (False, "cooldown")
    assert eligibility(s, 1000) == (True, None)
    full = assess(QuizRule(max_attempts=1, cooldown_ms=1000), [attempt("1", 0, 1)], NONE).summary
    assert full.next_attempt_at is None
    assert eligibility(full, 10**9) == (False, "attempts_exhausted")
    assert eligibility(assess(QuizRule(), [], NONE).summary, 0) == (True, None)


def test_a_late_attempt_changes_earlier_statuses_and_the_events_say_so() -> None:
    rule = QuizRule(max_attempts=1)
    before = assess(rule, [attempt("2", 20, 9)], NONE)
    stored = {"2": (COUNTED, True)}
    after = assess(rule, [attempt("1", 10, 3), attempt("2", 20, 9)], NONE)
    out = changes(stored, before.summary, after, {"1": 10, "2": 20})
    assert [(c.type, c.data.get("attempt_id")) for c in out] == [
        ("quiz.failed", "1"), ("quiz.attempt_status_changed", "2"),
    ]
    assert out[1].data == {"attempt_id": "2", "status": OVER_LIMIT, "previous_status": COUNTED}
    assert not after.summary.passed  # the pass no longer counts; no event takes it back


def test_nothing_changed_means_no_event() -> None:
    rule = QuizRule(max_attempts=1)
    result = assess(rule, [attempt("1", 10, 9)], NONE)
    first = changes({}, None, result, {"1": 10})
    assert [c.type for c in first] == ["quiz.passed", "quiz.attempts_exhausted"]
    assert changes({"1": (COUNTED, True)}, result.summary, result, {"1": 10}) == []


def test_item_outcomes_judge_keyed_questions_by_the_key_and_others_by_the_client() -> None:
    rule = QuizRule(questions=(Question("k1", 1, frozenset({"a"})),
                               Question("k2", 1, frozenset({"b"})), Question("open")))
    a = attempt("1", 1, 0, responses=(
        {"question_id": "k1", "answer_ids": ["a"], "correct": False, "time_s": 3},
        {"question_id": "open", "correct": True},
        {"question_id": "open", "correct": False},  # a repeat of a question is not counted
    ))
    assert item_outcomes(rule, a, graded=True) == (
        ("k1", True, 3.0), ("open", True, None), ("k2", False, None))
    assert item_outcomes(rule, a, graded=False) == (("k1", False, 3.0), ("open", True, None))


def test_a_new_failing_attempt_is_announced_even_when_the_client_said_failed() -> None:
    result = assess(QuizRule(), [attempt("1", 10, 3, client_passed=False)], NONE)
    assert [c.type for c in changes({}, None, result, {"1": 10})] == ["quiz.failed"]
