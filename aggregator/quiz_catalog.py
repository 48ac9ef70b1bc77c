"""Quiz definitions in a course catalog: their shape, validation, and the rules they give.

A catalog's ``quizzes`` are optional; a quiz without a definition is scored with the course's
passing score, no attempt limit, no cooldown and ``best`` scoring, from the client's figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated, Any

import msgspec

from aggregator.assessment import SCORINGS, Question, QuizRule
from aggregator.db import Conn
from waymark_client.wire import Id

MAX_QUESTIONS = 500
MAX_KEY_IDS = 50


class CatalogQuestion(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    question_id: Id
    weight: Annotated[float, msgspec.Meta(ge=0, le=1_000_000)] = 1.0
    correct_answer_ids: Annotated[list[Id], msgspec.Meta(max_length=MAX_KEY_IDS)] | None = None


class CatalogQuiz(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    quiz_id: Id
    chapter_id: Id | None = None
    passing_score: float | None = None
    """Percent; the course's when absent."""
    max_attempts: int | None = None
    cooldown_s: float | None = None
    scoring: str = "best"
    questions: Annotated[list[CatalogQuestion], msgspec.Meta(max_length=MAX_QUESTIONS)] = []
    skills: Annotated[list[Id], msgspec.Meta(max_length=64)] = []
    """Skill ids this quiz assesses (``GET /v1/users/{u}/skills``)."""


class QuizDefinitionError(ValueError):
    code = "invalid_catalog"


def validate_quizzes(quizzes: Sequence[CatalogQuiz], chapters: Iterable[str]) -> None:
    """Raise :class:`QuizDefinitionError` naming the field of the first bad definition."""
    known, seen = set(chapters), set()
    for q in quizzes:
        where = f"quizzes[{q.quiz_id!r}]"
        if q.quiz_id in seen:
            raise QuizDefinitionError(f"{where}: quiz_id appears twice")
        seen.add(q.quiz_id)
        if q.chapter_id is not None and q.chapter_id not in known:
            raise QuizDefinitionError(f"{where}.chapter_id: {q.chapter_id!r} is not in the course")
        if q.passing_score is not None and not 0 <= q.passing_score <= 100:
            raise QuizDefinitionError(f"{where}.passing_score must lie within 0-100")
        if q.max_attempts is not None and q.max_attempts < 1:
            raise QuizDefinitionError(f"{where}.max_attempts must be at least 1")
        if q.cooldown_s is not None and not 0 <= q.cooldown_s <= 366 * 86400:
            raise QuizDefinitionError(f"{where}.cooldown_s must lie within 0 and a year")
        if q.scoring not in SCORINGS:
            raise QuizDefinitionError(f"{where}.scoring must be one of {', '.join(SCORINGS)}")
        questions = [x.question_id for x in q.questions]
        if len(set(questions)) != len(questions):
            raise QuizDefinitionError(f"{where}.questions: duplicate question_id")


def rule_of(quiz: CatalogQuiz | None, course_passing: float) -> QuizRule:
    """The rule a definition gives (``None``: the defaults)."""
    if quiz is None:
        return QuizRule(passing_score=course_passing)
    return QuizRule(
        passing_score=course_passing if quiz.passing_score is None else quiz.passing_score,
        max_attempts=quiz.max_attempts,
        cooldown_ms=round((quiz.cooldown_s or 0) * 1000),
        scoring=quiz.scoring,
        chapter_id=quiz.chapter_id,
        questions=tuple(
            Question(x.question_id, x.weight,
                     None if x.correct_answer_ids is None else frozenset(x.correct_answer_ids))
            for x in quiz.questions
        ),
    )


class CourseQuizzes(msgspec.Struct):
    """A course's passing score and quiz definitions, as stored in its catalog."""

    passing_score: float = 70.0
    quizzes: list[CatalogQuiz] = []

    def rule(self, quiz_id: str) -> QuizRule:
        found = next((q for q in self.quizzes if q.quiz_id == quiz_id), None)
        return rule_of(found, self.passing_score)


_quizzes = msgspec.json.Decoder(list[CatalogQuiz]).decode


async def load(conn: Conn, course_ids: Iterable[str]) -> dict[str, CourseQuizzes]:
    """Each course's quiz definitions; a course without a catalog is absent."""
    rows = await conn.fetch(
        "SELECT course_id, passing_score, coalesce(doc->'quizzes', '[]')::text AS quizzes"
        " FROM courses WHERE course_id = ANY($1::text[])",
        sorted(set(course_ids)),
    )
    return {r["course_id"]: CourseQuizzes(r["passing_score"], _quizzes(r["quizzes"]))
            for r in rows}


def as_rows(quizzes: Sequence[CatalogQuiz]) -> list[Any]:
    """The parts of the definitions that change progress (for the catalog's structure hash)."""
    return [msgspec.to_builtins(q) for q in quizzes]
