"""The run journal: a durable record of one run in SQLite, for resume, reuse and reports.

One database per run, at `<out>/<run_id>/journal.sqlite` (`journal_path`). Every write is
one short transaction, committed to disk (WAL, `synchronous=FULL`) before the method
returns: once `record_task_result` returns, the result survives a crash, so the runner
may start the task's dependants. A killed process leaves the database consistent; at most
the writes in flight are lost.

The methods are synchronous: a write costs one fsync, short enough to call from asyncio
code (or wrap in `asyncio.to_thread`, which is safe: a lock serialises use of the
connection). One process writes a journal: opening it for writing takes an exclusive
lock, and other processes may only open it with `read_only=True`.

Times (`started_at`, `finished_at`, event `at`) are seconds from whatever clock the runner
uses; wall-clock epoch seconds keep runs comparable. Structured values (data, usage,
transcripts, plans, events) are stored as JSON text and returned decoded.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from orchestrator._journal_records import (
    JOURNAL_FILE,
    RESULT_COLUMNS,
    RUN_COLUMNS,
    RUN_STATUSES,
    JournalError,
    JournalEvent,
    RunInfo,
    RunStatus,
    TaskRecord,
    TaskStatus,
    content_hash,
    dumps,
    journal_path,
    parse,
    record_from_row,
    record_to_row,
    run_info_from_row,
)
from orchestrator._journal_schema import (
    SCHEMA_VERSION,
    WriterLock,
    check_version,
    compact,
    connect,
    create_schema,
    lock_for_writing,
    make_durable,
    transaction,
)

__all__ = [
    "JOURNAL_FILE",
    "SCHEMA_VERSION",
    "CrossRunCache",
    "Journal",
    "JournalError",
    "JournalEvent",
    "RunInfo",
    "RunStatus",
    "TaskRecord",
    "TaskStatus",
    "content_hash",
    "journal_path",
]


class Journal:
    """The journal of one run; get one with `Journal.create` or `Journal.open`.

    Close it (or use it as a context manager): a writer holds the run's lock until then.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, *, lock: WriterLock | None) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._path = path
        self._lock = lock
        self._mutex = threading.Lock()

    # Lifecycle -------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        run_id: str,
        workflow_name: str,
        spec_json: str,
        inputs: Mapping[str, Any],
        meta: Mapping[str, Any] | None = None,
        created_at: float | None = None,
    ) -> Journal:
        """A new journal at `path` (folders created); `JournalError` if one exists there."""
        path = Path(path)
        parse(spec_json, "spec_json")
        row = (
            run_id,
            workflow_name,
            spec_json,
            dumps(dict(inputs), "inputs"),
            dumps(dict(meta or {}), "meta"),
            "running",
            time.time() if created_at is None else created_at,
        )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: of two runs racing for the same id, exactly one gets the file.
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            raise JournalError(
                f"a journal already exists at {path}",
                "resume that run with 'dagwright resume', or choose another run id",
            ) from None
        except OSError as exc:
            raise JournalError(f"cannot create journal {path}: {exc.strerror or exc}") from None
        lock = lock_for_writing(path)
        conn: sqlite3.Connection | None = None
        try:
            conn = connect(path, read_only=False)
            make_durable(conn)
            with transaction(conn):
                create_schema(conn)
                conn.execute(f"INSERT INTO run (id, {RUN_COLUMNS}) VALUES (1{', ?' * 7})", row)
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            # The file is ours (O_EXCL) and holds no run yet: free the run id again.
            for leftover in ("", "-wal", "-shm"):
                path.with_name(path.name + leftover).unlink(missing_ok=True)
            lock.release()
            raise JournalError(f"cannot create journal {path}: {exc}") from None
        return cls(conn, path, lock=lock)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, read_only: bool = False) -> Journal:
        """An existing journal, to resume (or, `read_only`, to report on or reuse from)."""
        path = Path(path)
        if not path.is_file():
            what = "is a folder, not a journal" if path.is_dir() else "does not exist"
            raise JournalError(f"journal {path} {what}", "check the run id and the output folder")
        lock = None if read_only else lock_for_writing(path)
        conn: sqlite3.Connection | None = None
        try:
            conn = connect(path, read_only=read_only)
            check_version(conn, path)
            if not read_only:
                make_durable(conn)
            if conn.execute("SELECT COUNT(*) FROM run").fetchone()[0] != 1:
                raise JournalError(f"journal {path} is incomplete: it has no run record")
        except (sqlite3.Error, JournalError) as exc:
            if conn is not None:
                conn.close()
            if lock is not None:
                lock.release()
            if isinstance(exc, JournalError):
                raise
            raise JournalError(f"{path} is not a readable dagwright journal: {exc}") from None
        return cls(conn, path, lock=lock)

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @property
    def read_only(self) -> bool:
        """True when opened with `read_only=True`."""
        return self._lock is None

    def close(self) -> None:
        """Close the journal (idempotent); a writer first folds the WAL into the file."""
        with self._mutex:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            try:
                if self._lock is not None:
                    compact(conn)
            finally:
                conn.close()
                if self._lock is not None:
                    self._lock.release()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextlib.contextmanager
    def _using(self, doing: str) -> Iterator[sqlite3.Connection]:
        with self._mutex:
            if self._conn is None:
                raise JournalError(f"journal {self._path} is closed")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise JournalError(f"cannot {doing} journal {self._path}: {exc}") from None

    def _reading(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return self._using("read")

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        if self._lock is None:
            raise JournalError(f"journal {self._path} was opened read-only")
        with self._using("write") as conn, transaction(conn):
            yield conn

    # The run ---------------------------------------------------------------------------

    def run_info(self) -> RunInfo:
        """The run's id, workflow, spec, inputs, metadata, status and creation time."""
        with self._reading() as conn:
            return run_info_from_row(conn.execute(f"SELECT {RUN_COLUMNS} FROM run").fetchone())

    def set_status(self, status: RunStatus) -> None:
        """Mark the run running, finished, failed or interrupted."""
        if status not in RUN_STATUSES:
            choices = ", ".join(RUN_STATUSES)
            raise ValueError(f"status must be one of {choices}, got {status!r}")
        with self._writing() as conn:
            conn.execute("UPDATE run SET status = ?", (status,))

    # Tasks -----------------------------------------------------------------------------

    def record_task_start(self, task_id: str, attempt: int, started_at: float) -> None:
        """Note that attempt `attempt` (1-based) of `task_id` started."""
        if attempt < 1:
            raise ValueError(f"attempt must be >= 1, got {attempt}")
        with self._writing() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO attempt VALUES (?, ?, ?)", (task_id, attempt, started_at)
            )

    def started(self) -> dict[str, int]:
        """The last attempt number started of every task ever started."""
        with self._reading() as conn:
            rows = conn.execute("SELECT task_id, MAX(attempt) FROM attempt GROUP BY task_id")
            return dict(rows.fetchall())

    def record_task_result(self, record: TaskRecord) -> None:
        """Store a task's outcome durably; the latest one per task is the one that counts."""
        values = record_to_row(record)
        with self._writing() as conn:
            conn.execute(
                f"INSERT INTO result ({RESULT_COLUMNS}) VALUES ({', '.join('?' * 13)})", values
            )

    def records(self) -> dict[str, TaskRecord]:
        """The latest record of every task that has one, in the order they were recorded."""
        return self._latest("")

    def completed(self) -> dict[str, TaskRecord]:
        """The tasks whose latest record succeeded: what a resume does not run again."""
        return self._latest("WHERE r.status = 'succeeded'")

    def _latest(self, where: str) -> dict[str, TaskRecord]:
        query = (
            f"SELECT {RESULT_COLUMNS} FROM result r JOIN (SELECT MAX(seq) AS last FROM result "
            f"GROUP BY task_id) latest ON r.seq = latest.last {where} ORDER BY r.seq"
        )
        with self._reading() as conn:
            rows = conn.execute(query).fetchall()
        return {row[0]: record_from_row(row) for row in rows}

    def find_cached(self, content_hash: str) -> TaskRecord | None:
        """The latest succeeded record with this content hash, if any."""
        with self._reading() as conn:
            row = conn.execute(
                f"SELECT {RESULT_COLUMNS} FROM result WHERE content_hash = ? "
                "AND status = 'succeeded' ORDER BY seq DESC LIMIT 1",
                (content_hash,),
            ).fetchone()
        return record_from_row(row) if row is not None else None

    # Transcripts -----------------------------------------------------------------------

    def append_turn(self, task_id: str, turn_index: int, messages_json: str) -> None:
        """Store turn `turn_index` (0-based) of a task's conversation: a JSON array of messages.

        Turns are a gapless prefix: recording turn i again replaces it and drops the turns
        after it (a retried turn starts a new branch of the conversation).
        """
        if not isinstance(parse(messages_json, "messages_json"), list):
            raise ValueError("messages_json must be a JSON array of messages")
        with self._writing() as conn:
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM turn WHERE task_id = ?", (task_id,)
            ).fetchone()
            if not 0 <= turn_index <= count:
                raise ValueError(
                    f"turn {turn_index} of task {task_id!r} would leave a gap: "
                    f"{count} turns are recorded, the next is turn {count}"
                )
            conn.execute(
                "DELETE FROM turn WHERE task_id = ? AND turn_index >= ?", (task_id, turn_index)
            )
            conn.execute("INSERT INTO turn VALUES (?, ?, ?)", (task_id, turn_index, messages_json))

    def transcript(self, task_id: str) -> list[list[Any]]:
        """The recorded turns of a task, each its list of messages (empty if none)."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT messages_json FROM turn WHERE task_id = ? ORDER BY turn_index", (task_id,)
            ).fetchall()
        return [json.loads(text) for (text,) in rows]

    def clear_transcript(self, task_id: str) -> None:
        """Forget a task's turns, so its next attempt starts the conversation afresh."""
        with self._writing() as conn:
            conn.execute("DELETE FROM turn WHERE task_id = ?", (task_id,))

    # Expansions ------------------------------------------------------------------------

    def record_expansion(self, task_id: str, plan_json: str) -> None:
        """Store the sub-DAG a planning task expanded into (a JSON object or array)."""
        if not isinstance(parse(plan_json, "plan_json"), dict | list):
            raise ValueError("plan_json must be a JSON object or array")
        with self._writing() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO expansion VALUES (?, ?, ?)",
                (task_id, plan_json, time.time()),
            )

    def expansion(self, task_id: str) -> Any | None:
        """The decoded plan recorded for `task_id`, or None if it was never expanded."""
        with self._reading() as conn:
            row = conn.execute(
                "SELECT plan_json FROM expansion WHERE task_id = ?", (task_id,)
            ).fetchone()
        return json.loads(row[0]) if row is not None else None

    def expansions(self) -> dict[str, Any]:
        """Every recorded plan by planning task, in recording order."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT task_id, plan_json FROM expansion ORDER BY rowid"
            ).fetchall()
        return {task_id: json.loads(text) for task_id, text in rows}

    # Events ----------------------------------------------------------------------------

    def record_event(
        self, kind: str, task_id: str | None, at: float, data: Mapping[str, Any] | None = None
    ) -> int:
        """Store an event (e.g. `rate_limited`, `retry`); returns its sequence number."""
        text = dumps(dict(data or {}), f"data of event {kind!r}")
        with self._writing() as conn:
            cursor = conn.execute(
                "INSERT INTO event (kind, task_id, at, data_json) VALUES (?, ?, ?, ?)",
                (kind, task_id, at, text),
            )
            return int(cursor.lastrowid or 0)

    def events(self, kind: str | None = None) -> list[JournalEvent]:
        """Recorded events in order, optionally only those of one `kind`."""
        query = "SELECT seq, kind, task_id, at, data_json FROM event"
        args: tuple[str, ...] = ()
        if kind is not None:
            query, args = query + " WHERE kind = ?", (kind,)
        with self._reading() as conn:
            rows = conn.execute(query + " ORDER BY seq", args).fetchall()
        return [
            JournalEvent(seq=seq, kind=k, task_id=t, at=at, data=json.loads(d))
            for seq, k, t, at, d in rows
        ]


class CrossRunCache:
    """Succeeded results of other runs under one output root, looked up by content hash.

    Each `<root>/<run_id>/journal.sqlite` is opened read-only (safe while those runs are
    still writing); unreadable ones are listed in `skipped` and otherwise ignored. The
    newest run's result wins.
    """

    def __init__(self, root: str | os.PathLike[str], *, exclude: Iterable[str] = ()) -> None:
        excluded = set(exclude)
        self.skipped: list[tuple[Path, str]] = []
        found: list[tuple[float, Journal]] = []
        for path in sorted(Path(root).glob(f"*/{JOURNAL_FILE}")):
            if path.parent.name in excluded:
                continue
            try:
                journal = Journal.open(path, read_only=True)
            except JournalError as exc:
                self.skipped.append((path, str(exc)))
                continue
            try:
                found.append((journal.run_info().created_at, journal))
            except JournalError as exc:
                journal.close()
                self.skipped.append((path, str(exc)))
        found.sort(key=lambda item: item[0], reverse=True)
        self._journals = [journal for _, journal in found]

    @property
    def sources(self) -> list[Path]:
        """The journals searched, newest run first."""
        return [journal.path for journal in self._journals]

    def outputs(self, workflow_name: str, *, per_task: int = 32) -> dict[str, list[int]]:
        """Output tokens of the succeeded tasks of earlier runs of `workflow_name`, by task
        id, newest run first, at most `per_task` each (a journal that cannot be read now is
        left out)."""
        found: dict[str, list[int]] = {}
        for journal in self._journals:
            try:
                if journal.run_info().workflow_name != workflow_name:
                    continue
                records = journal.completed()
            except JournalError:
                continue
            for task_id, record in records.items():
                produced = record.usage.output_tokens
                seen = found.setdefault(task_id, [])
                if produced > 0 and len(seen) < per_task:
                    seen.append(produced)
        return {task_id: sizes for task_id, sizes in found.items() if sizes}

    def find(self, content_hash: str) -> TaskRecord | None:
        """The newest succeeded record with this content hash in any other run."""
        for journal in self._journals:
            record = journal.find_cached(content_hash)
            if record is not None:
                return record
        return None

    def close(self) -> None:
        """Close every journal opened."""
        for journal in self._journals:
            journal.close()
        self._journals = []

    def __enter__(self) -> CrossRunCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
