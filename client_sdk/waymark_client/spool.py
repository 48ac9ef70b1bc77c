"""The optional on-disk spool: pending events in a local SQLite file.

Invariants:
- An event is in the spool before ``track()`` returns, and leaves it only once the server has
  answered for it (202, or a final 4xx). A process that dies — SIGKILL included — leaves its
  events for the next process on the same ``spool_path``.
- One live process owns one spool file ("slot"): an exclusive ``flock`` on ``<slot>.lock``.
  Processes sharing a ``spool_path`` (gunicorn workers, a child after ``fork()``) each claim the
  first free slot ``path``, ``path.1``, ``path.2``, … A process that claims a slot also adopts
  the events of every other slot whose owner is gone.
- Each slot keeps a ``source_id`` and the next ``seq``; events keep their ``source_id``/``seq``
  wherever they move, so the server recognises a replay at any age.

WAL with ``synchronous=NORMAL``: a commit survives the process crashing (not the machine losing
power) and costs no fsync per event.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator

from .errors import WaymarkClientError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    source_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body BLOB NOT NULL
);
"""


class SpoolError(WaymarkClientError):
    """The spool file cannot be opened or written."""

    code = "spool_error"


def _try_lock(path: str) -> int | None:
    """An fd holding an exclusive flock on ``path``, or ``None`` when a live process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _slot_paths(base: str) -> Iterator[str]:
    yield base
    n = 1
    while True:
        yield f"{base}.{n}"
        n += 1


def _claim_free_slot(base: str) -> tuple[str, int]:
    for path in _slot_paths(base):
        fd = _try_lock(path + ".lock")
        if fd is not None:
            return path, fd
    raise AssertionError("the slot paths never run out")


def _connect(path: str) -> sqlite3.Connection:
    # Autocommit mode: every statement outside an explicit BEGIN is its own transaction.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_SCHEMA)
    return conn


class Spool:
    """One claimed slot. Not thread-safe: the client serialises every call."""

    def __init__(self, conn: sqlite3.Connection, lock_fd: int, path: str) -> None:
        self._conn = conn
        self._lock_fd = lock_fd
        self.path = path
        row = conn.execute("SELECT value FROM meta WHERE key = 'source_id'").fetchone()
        if row is None:
            self.source_id = uuid.uuid4().hex
            conn.execute("INSERT INTO meta VALUES ('source_id', ?)", (self.source_id,))
        else:
            self.source_id = str(row[0])
        self.next_seq = _next_seq(conn, "main", self.source_id)

    @classmethod
    def claim(cls, base: str) -> Spool:
        """Claim the first free slot of ``base`` and adopt the events of abandoned slots."""
        directory = os.path.dirname(os.path.abspath(base))
        try:
            os.makedirs(directory, exist_ok=True)
            path, lock_fd = _claim_free_slot(base)
            spool = cls(_connect(path), lock_fd, path)
            spool._adopt_abandoned(base)
        except (OSError, sqlite3.Error) as exc:
            raise SpoolError(f"cannot open spool {base!r}: {exc}") from exc
        return spool

    def _adopt_abandoned(self, base: str) -> None:
        for path in _slot_paths(base):
            if not os.path.exists(path) and not os.path.exists(path + ".lock"):
                return  # slots are claimed first-free, so the first gap ends the list
            if path == self.path or not os.path.exists(path):
                continue
            fd = _try_lock(path + ".lock")
            if fd is None:
                continue  # its owner is alive and sends its own events
            try:
                self._move_rows_from(path)
            finally:
                os.close(fd)

    def _move_rows_from(self, path: str) -> None:
        conn = self._conn
        conn.execute("ATTACH DATABASE ? AS orphan", (path,))
        try:
            conn.executescript(_SCHEMA.replace("EXISTS ", "EXISTS orphan."))
            row = conn.execute("SELECT value FROM orphan.meta WHERE key = 'source_id'").fetchone()
            conn.execute("BEGIN IMMEDIATE")
            if row is not None:
                # The slot's next owner continues its source; it must never reuse a seq of the
                # events that move away, or the server would take its new events for replays.
                keep = _next_seq(conn, "orphan", str(row[0]))
                conn.execute(
                    "INSERT OR REPLACE INTO orphan.meta VALUES ('next_seq', ?)", (str(keep),)
                )
            conn.execute(
                "INSERT INTO main.events (source_id, seq, body)"
                " SELECT source_id, seq, body FROM orphan.events ORDER BY id"
            )
            conn.execute("DELETE FROM orphan.events")
            # Across two WAL files this commit is atomic per file only: a crash right here can
            # leave rows in both, which the server then sees once more, as duplicates.
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.execute("DETACH DATABASE orphan")

    def rows(self) -> list[tuple[int, bytes]]:
        """Every stored event as (row id, JSON body), oldest first."""
        cur = self._conn.execute("SELECT id, body FROM events ORDER BY id")
        return [(int(r[0]), bytes(r[1])) for r in cur]

    def insert(self, seq: int, body: bytes) -> int:
        """Store one event of this slot's source; returns its row id."""
        try:
            cur = self._conn.execute(
                "INSERT INTO events (source_id, seq, body) VALUES (?, ?, ?)",
                (self.source_id, seq, body),
            )
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot write spool: {exc}") from exc
        self.next_seq = max(self.next_seq, seq + 1)
        return int(cur.lastrowid or 0)

    def replace(self, row: int, body: bytes) -> None:
        """Overwrite a stored event (a merge folded a newer one into it)."""
        try:
            self._conn.execute("UPDATE events SET body = ? WHERE id = ?", (body, row))
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot write spool: {exc}") from exc

    def delete(self, rows: Iterable[int]) -> None:
        """Forget events the server has answered for; the next seq is kept in the same commit."""
        ids = [(r,) for r in rows]
        conn = self._conn
        try:
            conn.execute("BEGIN")
            conn.executemany("DELETE FROM events WHERE id = ?", ids)
            conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('next_seq', ?)", (str(self.next_seq),)
            )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise SpoolError(f"cannot write spool: {exc}") from exc

    def close(self) -> None:
        """Close the file and give the slot up."""
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()
        os.close(self._lock_fd)


def _next_seq(conn: sqlite3.Connection, schema: str, source_id: str) -> int:
    # ``schema`` is one of two fixed names chosen in this module, never input.
    meta = conn.execute(f"SELECT value FROM {schema}.meta WHERE key = 'next_seq'").fetchone()  # noqa: S608
    top = conn.execute(
        f"SELECT max(seq) FROM {schema}.events WHERE source_id = ?",  # noqa: S608
        (source_id,),
    ).fetchone()
    return max(int(meta[0]) if meta else 1, (int(top[0]) + 1) if top and top[0] else 1)
