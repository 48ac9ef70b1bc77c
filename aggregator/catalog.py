"""Course catalog: validation, storage, versions.

A ``PUT`` stores the document as given and its chapters flattened into ``course_chapters``. The
version moves only when something that changes progress moves (chapters, modules, weights,
required flags, thresholds) — a title edit keeps it — and every version change asks for a
recompute of the course's learners.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated

import msgspec

from aggregator import catalog_rules as rules
from aggregator.catalog_rules import Prerequisites, Requirement
from aggregator.certificates import CertificateRule
from aggregator.db import Conn
from aggregator.quiz_catalog import CatalogQuiz, QuizDefinitionError, as_rows, validate_quizzes
from waymark_client.wire import Id

Weight = Annotated[float, msgspec.Meta(ge=0, le=1_000_000)]
Pct = Annotated[float, msgspec.Meta(ge=0, le=100)]
NO_NUL = r"^[^\x00]*$"
"""PostgreSQL text and jsonb cannot hold a NUL character."""
Title = Annotated[str, msgspec.Meta(max_length=512, pattern=NO_NUL)]


class CatalogChapter(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    chapter_id: Id
    title: Title = ""
    weight: Weight = 1.0
    required: bool = True
    kind: Annotated[str, msgspec.Meta(max_length=64, pattern=NO_NUL)] | None = None
    skills: Annotated[list[Id], msgspec.Meta(max_length=64)] = []
    """Skill ids this chapter trains (``GET /v1/users/{u}/skills``)."""
    points: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 0
    """Points a learner earns once, on the chapter's first completion ever."""
    requirement: Requirement | None = None
    """How the chapter is completed (``aggregator.catalog_rules``); None: ``"complete"``."""


class CatalogModule(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    module_id: Id
    title: Title = ""
    chapters: Annotated[list[CatalogChapter], msgspec.Meta(max_length=5000)]
    prerequisites: Prerequisites = []
    sequential: bool = False
    unlock_at: str | None = None
    """RFC 3339; the module is locked (reason ``date``) before it."""


class CourseCatalog(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: Title = ""
    completion_threshold: Annotated[float, msgspec.Meta(gt=0, le=100)] = 100.0
    passing_score: Pct = 70.0
    modules: Annotated[list[CatalogModule], msgspec.Meta(max_length=1000)] = []
    quizzes: Annotated[list[CatalogQuiz], msgspec.Meta(max_length=1000)] = []
    certificate: CertificateRule | None = None
    """Issue a certificate on completion (``aggregator.certificates``)."""
    prerequisites: Prerequisites = []
    """Course ids that must be completed before any module of this course is available."""


class RecomputeView(msgspec.Struct, kw_only=True):
    """How far the latest catalog version has been applied to the course's learners."""

    version: int
    state: str
    """``queued`` | ``running`` | ``done`` | ``superseded`` (a newer version took over)."""
    learners_total: int
    learners_done: int
    started_at: datetime | None
    finished_at: datetime | None


class CatalogView(msgspec.Struct, kw_only=True):
    """``GET /v1/courses/{course_id}``."""

    course_id: str
    version: int
    updated_at: datetime
    title: str
    completion_threshold: float
    passing_score: float
    modules: list[CatalogModule]
    quizzes: list[CatalogQuiz] = []
    prerequisites: list[str] = []
    certificate: CertificateRule | None = None
    recompute: RecomputeView | None = None


class CatalogError(ValueError):
    code = "invalid_catalog"


def validate(catalog: CourseCatalog) -> None:
    seen: set[str] = set()
    modules: set[str] = set()
    for m in catalog.modules:
        if m.module_id in modules:
            raise CatalogError(f"module {m.module_id!r} appears twice")
        modules.add(m.module_id)
        for ch in m.chapters:
            if ch.chapter_id in seen:
                raise CatalogError(f"chapter {ch.chapter_id!r} appears twice")
            seen.add(ch.chapter_id)
    try:
        validate_quizzes(catalog.quizzes, seen)
        _validate_rules(catalog)
    except (QuizDefinitionError, rules.RulesError) as e:
        raise CatalogError(str(e)) from None


def _validate_rules(catalog: CourseCatalog) -> None:
    quizzes = [q.quiz_id for q in catalog.quizzes]
    for m in catalog.modules:
        rules.parse_unlock_at(f"modules[{m.module_id!r}]", m.unlock_at)
        for ch in m.chapters:
            rules.check_requirement(f"chapters[{ch.chapter_id!r}]", ch.requirement, quizzes)
    graph = {m.module_id: m.prerequisites for m in catalog.modules}
    rules.check_prerequisites("modules", graph, graph)


def structure_hash(catalog: CourseCatalog) -> str:
    """Hash of everything that changes progress (titles excluded)."""
    shape = [
        catalog.completion_threshold,
        catalog.passing_score,
        [
            [m.module_id, [[c.chapter_id, c.weight, c.required] for c in m.chapters]]
            for m in catalog.modules
        ],
    ]
    if catalog.quizzes:  # a catalog without quizzes keeps the hash it had before they existed
        shape.append(as_rows(catalog.quizzes))
    requirements = [[c.chapter_id, msgspec.to_builtins(c.requirement)]
                    for m in catalog.modules for c in m.chapters if c.requirement is not None]
    if requirements:  # likewise for requirements
        shape.append(["requirements", requirements])
    points = [[c.chapter_id, c.points] for m in catalog.modules for c in m.chapters if c.points]
    if catalog.certificate is not None or points:  # what is earned: the recompute awards it
        shape.append(["rewards", msgspec.to_builtins(catalog.certificate), points])
    return hashlib.sha256(msgspec.json.encode(shape)).hexdigest()


async def store(
    conn: Conn, course_id: str, catalog: CourseCatalog
) -> tuple[int, bool]:
    """Store a catalog; return (version, whether the version moved)."""
    validate(catalog)
    await _check_course_prerequisites(conn, course_id, catalog.prerequisites)
    digest = structure_hash(catalog)
    doc = msgspec.json.encode(catalog).decode()
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT version, structure_hash FROM courses WHERE course_id = $1 FOR UPDATE",
            course_id,
        )
        if row is None:
            version, moved = 1, True
        else:
            moved = row["structure_hash"] != digest
            version = row["version"] + 1 if moved else row["version"]
        await conn.execute(
            """
            INSERT INTO courses AS c (course_id, title, completion_threshold, passing_score,
                                      version, structure_hash, doc, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, now())
            ON CONFLICT (course_id) DO UPDATE SET title = excluded.title,
                completion_threshold = excluded.completion_threshold,
                passing_score = excluded.passing_score, version = excluded.version,
                structure_hash = excluded.structure_hash, doc = excluded.doc, updated_at = now()
            """,
            course_id, catalog.title, catalog.completion_threshold, catalog.passing_score,
            version, digest, doc,
        )
        if moved:
            rows = [
                (course_id, ch.chapter_id, m.module_id, pos, ch.weight, ch.required, ch.kind,
                 None if ch.requirement is None else _json(ch.requirement))
                for pos, (m, ch) in enumerate((m, ch) for m in catalog.modules for ch in m.chapters)
            ]
            await conn.execute(
                "INSERT INTO catalog_recompute (course_id, version) VALUES ($1, $2)"
                " ON CONFLICT (course_id) DO UPDATE SET version = excluded.version,"
                " state = 'queued', learners_total = 0, learners_done = 0, started_at = NULL,"
                " finished_at = NULL, updated_at = now()",
                course_id, version,
            )
            await conn.execute("DELETE FROM course_chapters WHERE course_id = $1", course_id)
            await conn.executemany(
                "INSERT INTO course_chapters (course_id, chapter_id, module_id, position, weight,"
                " required, kind, requirement) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
                rows,
            )
    return version, moved


async def load(conn: Conn, course_id: str) -> CatalogView | None:
    row = await conn.fetchrow(
        "SELECT version, updated_at, doc::text AS doc FROM courses WHERE course_id = $1", course_id
    )
    if row is None:
        return None
    cat = msgspec.json.decode(row["doc"], type=CourseCatalog)
    rc = await conn.fetchrow(
        "SELECT version, state, learners_total, learners_done, started_at, finished_at"
        " FROM catalog_recompute WHERE course_id = $1",
        course_id,
    )
    return CatalogView(
        course_id=course_id,
        version=row["version"],
        updated_at=row["updated_at"],
        title=cat.title,
        completion_threshold=cat.completion_threshold,
        passing_score=cat.passing_score,
        modules=cat.modules,
        quizzes=cat.quizzes,
        prerequisites=cat.prerequisites,
        certificate=cat.certificate,
        recompute=None if rc is None else RecomputeView(**dict(rc)),
    )


async def _check_course_prerequisites(conn: Conn, course_id: str, prereqs: list[str]) -> None:
    """Refuse a prerequisite course that is this one, has no catalog, or leads back here."""
    graph: dict[str, list[str]] = {course_id: list(prereqs)}
    frontier = set(prereqs) - {course_id}
    while frontier:
        rows = await conn.fetch(
            "SELECT course_id, coalesce(doc->'prerequisites', '[]')::text AS p FROM courses"
            " WHERE course_id = ANY($1::text[])", sorted(frontier),
        )
        found = {r["course_id"]: _ids(r["p"]) for r in rows}
        missing = sorted(c for c in frontier if c not in found and c in prereqs)
        if missing:
            raise CatalogError(f"prerequisites: unknown course {missing[0]!r} (no catalog)")
        graph.update(found)
        frontier = {p for ps in found.values() for p in ps} - set(graph)
    try:
        rules.check_prerequisites("courses", graph, graph)
    except rules.RulesError as e:
        raise CatalogError(str(e)) from None


_ids = msgspec.json.Decoder(list[str]).decode


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()


async def learner_pairs(
    conn: Conn, course_id: str, after_user: str, limit: int
) -> list[str]:
    """Users with progress in ``course_id`` after ``after_user`` (keyset pagination)."""
    rows = await conn.fetch(
        "SELECT user_id FROM course_progress WHERE course_id = $1 AND user_id > $2"
        " ORDER BY user_id LIMIT $3",
        course_id,
        after_user,
        limit,
    )
    return [r["user_id"] for r in rows]


async def progress_rules(
    conn: Conn, course_ids: list[str]
) -> dict[str, tuple[float, dict[str, frozenset[str]], frozenset[str]]]:
    """``(completion_threshold, question ids per defined quiz, paths holding it)`` of each
    course in ``course_ids`` that has a catalog; a course without one is absent."""
    rows = await conn.fetch(
        "SELECT course_id, completion_threshold, coalesce(doc->'quizzes', '[]')::text AS quizzes,"
        " ARRAY(SELECT path_id FROM path_courses p WHERE p.course_id = c.course_id) AS paths"
        " FROM courses c WHERE course_id = ANY($1::text[])",
        course_ids,
    )
    return {
        r["course_id"]: (
            r["completion_threshold"],
            {q.quiz_id: frozenset(x.question_id for x in q.questions)
             for q in _quizzes(r["quizzes"]) if q.questions},
            frozenset(r["paths"]),
        )
        for r in rows
    }


_quizzes = msgspec.json.Decoder(list[CatalogQuiz]).decode
