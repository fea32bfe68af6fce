"""The journal's SQLite layer: schema, connections and the one-writer lock.

Nothing here knows about tasks or runs beyond the table layout; `_journal_records` turns
rows into records.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

from orchestrator._journal_records import JournalError

__all__ = [
    "SCHEMA_VERSION",
    "WriterLock",
    "check_version",
    "compact",
    "connect",
    "create_schema",
    "lock_for_writing",
    "make_durable",
    "schema_version",
    "transaction",
]

SCHEMA_VERSION = 1
"""Stored in `PRAGMA user_version`; bump it (and add a migration) when the layout changes."""

# JSON lives in TEXT columns (`*_json`); times are seconds as REAL, from the runner's clock.
_DDL = """
CREATE TABLE run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    run_id TEXT NOT NULL,
    workflow_name TEXT NOT NULL,
    spec_json TEXT NOT NULL,
    inputs_json TEXT NOT NULL,
    meta_json TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE attempt (
    task_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    started_at REAL NOT NULL,
    PRIMARY KEY (task_id, attempt)
);
CREATE TABLE result (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('succeeded', 'failed', 'skipped')),
    output TEXT NOT NULL,
    data_json TEXT,
    usage_json TEXT NOT NULL,
    cost_usd REAL NOT NULL,
    attempts INTEGER NOT NULL,
    model TEXT,
    started_at REAL,
    finished_at REAL,
    waited_s REAL NOT NULL,
    error TEXT,
    content_hash TEXT
);
CREATE INDEX result_by_task ON result (task_id, seq);
CREATE INDEX result_by_hash ON result (content_hash, seq)
    WHERE status = 'succeeded' AND content_hash IS NOT NULL;
CREATE TABLE turn (
    task_id TEXT NOT NULL,
    turn_index INTEGER NOT NULL,
    messages_json TEXT NOT NULL,
    PRIMARY KEY (task_id, turn_index)
);
CREATE TABLE expansion (
    task_id TEXT PRIMARY KEY,
    plan_json TEXT NOT NULL,
    recorded_at REAL NOT NULL
);
CREATE TABLE event (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    task_id TEXT,
    at REAL NOT NULL,
    data_json TEXT NOT NULL
);
"""


def connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), usable from any thread.

    The caller serialises its use (one lock per connection).
    """
    target = path.absolute().as_uri() + ("?mode=ro" if read_only else "?mode=rw")
    return sqlite3.connect(
        target, uri=True, isolation_level=None, check_same_thread=False, timeout=10.0
    )


def make_durable(conn: sqlite3.Connection) -> None:
    """WAL with `synchronous=FULL`: a commit is on disk when it returns."""
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")


def compact(conn: sqlite3.Connection) -> None:
    """Fold the WAL back into the database file, so a closed journal is one file.

    Best effort: with another process reading, the switch is refused and WAL stays.
    """
    conn.execute("PRAGMA busy_timeout = 0")
    with contextlib.suppress(sqlite3.Error):
        conn.execute("PRAGMA journal_mode=DELETE")


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`BEGIN IMMEDIATE` ... `COMMIT`, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        # A failed COMMIT (disk full, I/O error) may leave the transaction open.
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables and stamp the version (inside the caller's transaction)."""
    for statement in _DDL.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def schema_version(conn: sqlite3.Connection) -> int:
    """The stored schema version (0: not a journal); `sqlite3.DatabaseError` if not SQLite."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


class WriterLock:
    """An exclusive advisory lock on `<journal>.lock`, so only one process writes a journal.

    `flock` is released by the OS when the process dies, so a killed run never leaves a
    stale lock. A separate file is used because SQLite's own POSIX locks on the database
    file are dropped when any descriptor of that file is closed. Without `fcntl`
    (Windows) the lock is a no-op.
    """

    def __init__(self, path: Path) -> None:
        self._path = path.with_name(path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock; False if another process (or journal object) holds it."""
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        if sys.platform != "win32":
            import fcntl

            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Release the lock (idempotent); the lock file stays, unlinking it would race."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def lock_for_writing(path: Path) -> WriterLock:
    """The writer lock of the journal at `path`; `JournalError` if another process has it."""
    lock = WriterLock(path)
    try:
        acquired = lock.acquire()
    except OSError as exc:
        raise JournalError(f"cannot lock journal {path}: {exc.strerror or exc}") from None
    if not acquired:
        raise JournalError(
            f"journal {path} is already open for writing",
            "another dagwright process is running this run; wait for it or open it read-only",
        )
    return lock


def check_version(conn: sqlite3.Connection, path: Path) -> None:
    """`JournalError` unless the database is a journal of the schema this code writes."""
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise JournalError(
            f"journal {path} was written by a newer dagwright (journal schema v{version}; "
            f"this version reads up to v{SCHEMA_VERSION})",
            "upgrade dagwright to resume this run",
        )
    if version != SCHEMA_VERSION:
        raise JournalError(f"{path} is not a dagwright journal (schema version {version})")
