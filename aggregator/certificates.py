"""Certificate issuance: when a course or path certificate is due, and writing it exactly once.

A course whose catalog has ``certificate: {"enabled": true}`` issues one certificate to a
learner once the learner has ever completed the course (``learner_milestones``) and, when the
catalog sets ``min_quiz_percent``, the mean of the learner's kept percent over the course's
quizzes (an unattempted quiz counts 0) reaches it. A path with the same field issues one once
the learner has ever completed every required course of it (the quizzes of those courses for
``min_quiz_percent``). The row is unique per (learner, course), so
issuance happens exactly once, with its ``certificate.issued`` event in the same transaction; a
certificate is never taken back by later progress (only an admin revokes it). ``issued_at`` is
the wall clock at issuance: it records when Waymark issued it, not when the learner finished,
and is the one value here that is not a function of the events. The signed fields are built by
``certificate_fields`` (the certificate routes rebuild the signed document with it too).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

import msgspec

from aggregator.db import Conn
from aggregator.events import DomainEvent
from aggregator.signing import CertificateSigner

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_BYTES = 10
"""80 random bits: 16 Crockford base32 characters."""
_ALIASES = str.maketrans({"I": "1", "L": "1", "O": "0", "-": None, " ": None})


class CertificateRule(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A catalog's ``certificate`` field (on a course)."""

    enabled: bool = False
    min_quiz_percent: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None


def new_code() -> str:
    """A verification code: 80 random bits in Crockford base32 (16 characters)."""
    n = int.from_bytes(secrets.token_bytes(CODE_BYTES), "big")
    return "".join(CROCKFORD[(n >> (5 * i)) & 31] for i in reversed(range(CODE_BYTES * 8 // 5)))


def normalize_code(text: str) -> str:
    """A code as stored: upper case, Crockford aliases (I, L → 1; O → 0), no hyphens/spaces."""
    return text.upper().translate(_ALIASES)


def rfc3339_ms(at: datetime) -> str:
    """``2026-11-30T10:04:05.123Z``: UTC, millisecond precision."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


class CertificateRow(Protocol):
    """A ``certificates`` row: an ``asyncpg.Record`` or a dict of its columns."""

    def __getitem__(self, key: str, /) -> Any: ...


def certificate_fields(row: CertificateRow) -> dict[str, Any]:
    """The signed fields of a certificate row (``certificates`` columns)."""
    scope_key = "course_id" if row["scope"] == "course" else "path_id"
    return {
        "certificate_id": row["certificate_id"], "code": row["code"], "user_id": row["user_id"],
        scope_key: row["scope_id"], "title": row["title"],
        "issued_at": rfc3339_ms(row["issued_at"]), "kid": row["kid"],
    }


_DUE = """
WITH k AS (SELECT DISTINCT * FROM unnest($1::text[], $2::text[]) AS k(user_id, course_id))
SELECT k.user_id, k.course_id, c.title
FROM k
JOIN courses c USING (course_id)
JOIN learner_milestones m ON m.user_id = k.user_id AND m.kind = 'course'
                         AND m.course_id = k.course_id AND m.item_id = ''
WHERE coalesce((c.doc #>> '{certificate,enabled}')::bool, false)
  AND NOT EXISTS (SELECT 1 FROM certificates x WHERE x.user_id = k.user_id
                  AND x.scope = 'course' AND x.scope_id = k.course_id)
  AND coalesce((c.doc #>> '{certificate,min_quiz_percent}')::float8, 0) <= coalesce((
      SELECT avg(coalesce(s.kept_percent, 0))
      FROM jsonb_path_query(c.doc, '$.quizzes[*].quiz_id') AS q(quiz_id)
      LEFT JOIN quiz_summary s ON s.user_id = k.user_id AND s.course_id = k.course_id
                              AND s.quiz_id = q.quiz_id #>> '{}'), 100)
ORDER BY 1, 2
"""
_DUE_PATHS = """
WITH k AS (SELECT DISTINCT * FROM unnest($1::text[], $2::text[]) AS k(user_id, path_id))
SELECT k.user_id, k.path_id, p.title
FROM k
JOIN paths p USING (path_id)
JOIN learner_milestones m ON m.user_id = k.user_id AND m.kind = 'path' AND m.course_id = ''
                         AND m.item_id = k.path_id
WHERE coalesce((p.doc #>> '{certificate,enabled}')::bool, false)
  AND NOT EXISTS (SELECT 1 FROM certificates x WHERE x.user_id = k.user_id
                  AND x.scope = 'path' AND x.scope_id = k.path_id)
  AND coalesce((p.doc #>> '{certificate,min_quiz_percent}')::float8, 0) <= coalesce((
      SELECT avg(coalesce(s.kept_percent, 0))
      FROM path_courses pc
      JOIN courses c ON c.course_id = pc.course_id
      CROSS JOIN LATERAL jsonb_path_query(c.doc, '$.quizzes[*].quiz_id') AS q(quiz_id)
      LEFT JOIN quiz_summary s ON s.user_id = k.user_id AND s.course_id = c.course_id
                              AND s.quiz_id = q.quiz_id #>> '{}'
      WHERE pc.path_id = k.path_id AND pc.required), 100)
ORDER BY 1, 2
"""
_INSERT = """
INSERT INTO certificates (user_id, certificate_id, scope, scope_id, title, code, issued_at, kid,
                          signature)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::timestamptz[], $8::text[], $9::text[])
ORDER BY 1, 2
ON CONFLICT DO NOTHING
RETURNING user_id, certificate_id, scope, scope_id, title, code, issued_at, kid
"""


async def issue_due(
    conn: Conn, pairs: Iterable[tuple[str, str]], signer: CertificateSigner | None
) -> list[DomainEvent]:
    """Issue the course certificates due among (user, course) ``pairs``; return their events."""
    return await _issue(conn, "course", _DUE, pairs, signer)


async def issue_due_paths(
    conn: Conn, pairs: Iterable[tuple[str, str]], signer: CertificateSigner | None
) -> list[DomainEvent]:
    """Issue the path certificates due among (user, path) ``pairs``; return their events."""
    return await _issue(conn, "path", _DUE_PATHS, pairs, signer)


async def _issue(
    conn: Conn, scope: str, due_sql: str, pairs: Iterable[tuple[str, str]],
    signer: CertificateSigner | None,
) -> list[DomainEvent]:
    ps = sorted(set(pairs))
    if signer is None or not ps:
        return []
    due = await conn.fetch(due_sql, [p[0] for p in ps], [p[1] for p in ps])
    if not due:
        return []
    now = datetime.now(UTC)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    rows = []
    for r in due:
        row = {"user_id": r[0], "certificate_id": str(uuid.uuid4()), "scope": scope,
               "scope_id": r[1], "title": r["title"], "code": new_code(),
               "issued_at": now, "kid": signer.kid}
        rows.append({**row, "signature": signer.sign(certificate_fields(row))})
    cols = ("user_id", "certificate_id", "scope", "scope_id", "title", "code", "issued_at", "kid",
            "signature")
    written = await conn.fetch(_INSERT, *[[r[c] for r in rows] for c in cols])
    key = "course_id" if scope == "course" else "path_id"
    return [DomainEvent(
        type="certificate.issued", user_id=w["user_id"],
        course_id=w["scope_id"] if scope == "course" else "", occurred_at=w["issued_at"],
        data={"certificate_id": w["certificate_id"], "scope": scope, key: w["scope_id"],
              "title": w["title"], "code": w["code"], "issued_at": rfc3339_ms(w["issued_at"])},
    ) for w in written]
