"""Learning path definitions: shape, validation, storage, and the one place they are read.

A path is an ordered list of courses (each ``required`` by default, at most ``MAX_COURSES``),
optionally ``sequential``. Every course of a path must have a catalog and appear once; errors
answer ``invalid_catalog`` naming the field and store nothing. The version moves when the course
list, a ``required`` flag or ``sequential`` moves (a title edit keeps it).

:func:`load_paths` and :func:`paths_of_courses` are how any other part reads definitions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import msgspec

from aggregator.certificates import CertificateRule
from aggregator.db import Conn
from waymark_client.wire import ID_PATTERN, Id

MAX_COURSES = 100
Title = Annotated[str, msgspec.Meta(max_length=512, pattern=r"^[^\x00]*$")]


class PathCourse(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    course_id: Id
    required: bool = True


class PathDocument(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``PUT /v1/paths/{path_id}``."""

    title: Title = ""
    courses: Annotated[list[PathCourse], msgspec.Meta(min_length=1, max_length=MAX_COURSES)]
    sequential: bool = False
    """Each required course is locked until the required courses before it are completed."""
    certificate: CertificateRule | None = None
    """Issue a certificate once the learner has ever completed every required course."""


class PathView(msgspec.Struct, kw_only=True):
    """``GET /v1/paths/{path_id}``."""

    path_id: str
    version: int
    updated_at: datetime
    title: str
    sequential: bool
    courses: list[PathCourse]
    certificate: CertificateRule | None = None


@dataclass(frozen=True, slots=True)
class PathDefinition:
    """A stored path: its courses in order."""

    path_id: str
    title: str
    sequential: bool
    version: int
    courses: tuple[PathCourse, ...]

    @property
    def course_ids(self) -> tuple[str, ...]:
        return tuple(c.course_id for c in self.courses)


class PathError(ValueError):
    code = "invalid_catalog"


def decode(body: bytes) -> PathDocument:
    """A ``PUT`` body as a path; a schema violation is a :class:`PathError` naming the field
    (``msgspec.DecodeError`` for a body that is not JSON)."""
    try:
        return _doc(body)
    except msgspec.ValidationError as e:
        raise PathError(str(e)) from None


def validate(doc: PathDocument) -> None:
    """Raise :class:`PathError` naming the field of the first problem found without I/O."""
    if not doc.courses:
        raise PathError("courses: a path needs at least one course")
    if len(doc.courses) > MAX_COURSES:
        raise PathError(f"courses: {len(doc.courses)} courses, the limit is {MAX_COURSES}")
    seen: set[str] = set()
    for c in doc.courses:
        if c.course_id in seen:
            raise PathError(f"courses: course {c.course_id!r} appears twice")
        seen.add(c.course_id)


def _shape(doc: PathDocument) -> list[object]:
    return [doc.sequential, [[c.course_id, c.required] for c in doc.courses]]


async def store(conn: Conn, path_id: str, doc: PathDocument) -> tuple[PathView, bool]:
    """Store a path; return its view and whether its learners need the ``recompute_path`` job:
    its version moved, or its certificate rule changed (learners who already qualify get it)."""
    if not re.fullmatch(ID_PATTERN, path_id):
        raise PathError(f"path_id {path_id!r} is not an id ({ID_PATTERN})")
    validate(doc)
    ids = [c.course_id for c in doc.courses]
    known = {r["course_id"] for r in await conn.fetch(
        "SELECT course_id FROM courses WHERE course_id = ANY($1::text[])", ids)}
    missing = [c for c in ids if c not in known]
    if missing:
        raise PathError(f"courses: unknown course {missing[0]!r} (no catalog)")
    body = msgspec.json.encode(doc).decode()
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT version, doc::text AS doc FROM paths WHERE path_id = $1 FOR UPDATE", path_id)
        old = None if row is None else _doc(row["doc"])
        moved = old is None or _shape(old) != _shape(doc)
        version = 1 if row is None else row["version"] + int(moved)
        await conn.execute(
            "INSERT INTO paths AS p (path_id, title, sequential, version, doc, updated_at)"
            " VALUES ($1, $2, $3, $4, $5::jsonb, now()) ON CONFLICT (path_id) DO UPDATE SET"
            " title = excluded.title, sequential = excluded.sequential,"
            " version = excluded.version, doc = excluded.doc, updated_at = now()",
            path_id, doc.title, doc.sequential, version, body,
        )
        if moved:
            await conn.execute("DELETE FROM path_courses WHERE path_id = $1", path_id)
            await conn.executemany(
                "INSERT INTO path_courses (path_id, course_id, position, required)"
                " VALUES ($1, $2, $3, $4)",
                [(path_id, c.course_id, i, c.required) for i, c in enumerate(doc.courses)],
            )
    view = await load(conn, path_id)
    assert view is not None
    return view, moved or old is None or old.certificate != doc.certificate


async def load(conn: Conn, path_id: str) -> PathView | None:
    row = await conn.fetchrow(
        "SELECT path_id, version, updated_at, doc::text AS doc FROM paths WHERE path_id = $1",
        path_id,
    )
    if row is None:
        return None
    doc = _doc(row["doc"])
    return PathView(path_id=path_id, version=row["version"], updated_at=row["updated_at"],
                    title=doc.title, sequential=doc.sequential, courses=doc.courses,
                    certificate=doc.certificate)


async def load_paths(
    conn: Conn, path_ids: Sequence[str] | None = None
) -> dict[str, PathDefinition]:
    """Path definitions by id: those in ``path_ids``, or every path when None."""
    if path_ids is None:
        rows = await conn.fetch(
            "SELECT path_id, version, doc::text AS doc FROM paths ORDER BY path_id")
    else:
        rows = await conn.fetch(
            "SELECT path_id, version, doc::text AS doc FROM paths"
            " WHERE path_id = ANY($1::text[]) ORDER BY path_id", list(path_ids))
    out = {}
    for r in rows:
        doc = _doc(r["doc"])
        out[r["path_id"]] = PathDefinition(
            path_id=r["path_id"], title=doc.title, sequential=doc.sequential,
            version=r["version"], courses=tuple(doc.courses),
        )
    return out


async def paths_of_courses(conn: Conn, course_ids: Sequence[str]) -> dict[str, PathDefinition]:
    """The definitions of every path that holds any course in ``course_ids``."""
    if not course_ids:
        return {}
    ids = await conn.fetch(
        "SELECT DISTINCT path_id FROM path_courses WHERE course_id = ANY($1::text[])",
        list(course_ids),
    )
    if not ids:
        return {}
    return await load_paths(conn, [r["path_id"] for r in ids])


_doc = msgspec.json.Decoder(PathDocument).decode
