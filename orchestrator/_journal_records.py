"""The journal's records (run, task outcome, event), its error, and their JSON encoding."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from agents.usage import Usage

__all__ = [
    "JOURNAL_FILE",
    "RESULT_COLUMNS",
    "RUN_COLUMNS",
    "RUN_STATUSES",
    "JournalError",
    "JournalEvent",
    "RunInfo",
    "RunStatus",
    "TaskRecord",
    "TaskStatus",
    "content_hash",
    "dumps",
    "journal_path",
    "parse",
    "record_from_row",
    "record_to_row",
    "run_info_from_row",
]

JOURNAL_FILE = "journal.sqlite"
RunStatus = Literal["running", "finished", "failed", "interrupted"]
TaskStatus = Literal["succeeded", "failed", "skipped"]
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
_TASK_STATUSES: tuple[str, ...] = get_args(TaskStatus)


class JournalError(Exception):
    """A journal that cannot be created, opened or written; `hint` says what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message + (f" ({self.hint})" if self.hint else "")


@dataclass(frozen=True, kw_only=True, slots=True)
class RunInfo:
    """What a run was started with, and where it stands."""

    run_id: str
    workflow_name: str
    spec_json: str
    inputs: dict[str, Any]
    meta: dict[str, Any]
    status: RunStatus
    created_at: float


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskRecord:
    """The outcome of one task: output, usage, cost and timings (seconds)."""

    task_id: str
    status: TaskStatus
    output: str = ""
    data: Any = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    attempts: int = 0
    model: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    waited_s: float = 0.0
    error: str | None = None
    content_hash: str | None = None

    def __post_init__(self) -> None:
        if self.status not in _TASK_STATUSES:
            choices = ", ".join(_TASK_STATUSES)
            raise ValueError(f"status must be one of {choices}, got {self.status!r}")
        if self.attempts < 0 or self.cost_usd < 0 or self.waited_s < 0:
            for name in ("attempts", "cost_usd", "waited_s"):
                if getattr(self, name) < 0:
                    raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True, kw_only=True, slots=True)
class JournalEvent:
    """Something that happened during the run (a 429, a retry...), in recording order."""

    seq: int
    kind: str
    task_id: str | None
    at: float
    data: dict[str, Any]


def journal_path(root: str | os.PathLike[str], run_id: str) -> Path:
    """`<root>/<run_id>/journal.sqlite`; `JournalError` if `run_id` is not a plain name."""
    if not run_id or run_id in (".", "..") or any(c in run_id for c in "/\\\0"):
        raise JournalError(f"invalid run id {run_id!r}", "a run id is a folder name, no '/'")
    return Path(root) / run_id / JOURNAL_FILE


def content_hash(task: Mapping[str, Any] | str, *, model: str, prompt: str) -> str:
    """Key for reusing a result: SHA-256 of the task's settings, the model and the prompt.

    `task` is the JSON-able spec of the task (or its JSON text) with everything that
    changes the answer (system prompt, tools, output schema, max_tokens) resolved in;
    leave out what does not (id, dependencies, priority, retries) to share results.
    """
    settings = json.loads(task) if isinstance(task, str) else task
    payload = {"v": 1, "task": settings, "model": model, "prompt": prompt}
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def dumps(value: Any, what: str) -> str:
    """Compact JSON text; `ValueError` naming `what` if `value` is not JSON-able."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not JSON-serialisable: {exc}") from None


def parse(text: str, what: str) -> Any:
    """Decoded JSON text; `TypeError`/`ValueError` naming `what` if it is not JSON text."""
    if not isinstance(text, str):
        raise TypeError(f"{what} must be JSON text (str), got {type(text).__name__}")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from None


RESULT_COLUMNS = (  # the order of `record_to_row` and `record_from_row`
    "task_id, status, output, data_json, usage_json, cost_usd, attempts, model, "
    "started_at, finished_at, waited_s, error, content_hash"
)


def record_from_row(row: tuple[Any, ...]) -> TaskRecord:
    """A `TaskRecord` from a row of `RESULT_COLUMNS`."""
    task_id, status, output, data, usage, cost, attempts, model, start, end, waited, error, ch = row
    return TaskRecord(
        task_id=task_id,
        status=status,
        output=output,
        data=json.loads(data) if data is not None else None,
        usage=Usage.from_api(json.loads(usage)),
        cost_usd=cost,
        attempts=attempts,
        model=model,
        started_at=start,
        finished_at=end,
        waited_s=waited,
        error=error,
        content_hash=ch,
    )


def record_to_row(record: TaskRecord) -> tuple[Any, ...]:
    """The values of `RESULT_COLUMNS` for `record`, JSON encoded."""
    data = record.data
    return (
        record.task_id,
        record.status,
        record.output,
        None if data is None else dumps(data, f"data of task {record.task_id!r}"),
        dumps(record.usage.to_api(), "usage"),
        record.cost_usd,
        record.attempts,
        record.model,
        record.started_at,
        record.finished_at,
        record.waited_s,
        record.error,
        record.content_hash,
    )


RUN_COLUMNS = "run_id, workflow_name, spec_json, inputs_json, meta_json, status, created_at"


def run_info_from_row(row: tuple[Any, ...]) -> RunInfo:
    """A `RunInfo` from a row of `RUN_COLUMNS`."""
    run_id, name, spec_json, inputs, meta, status, created_at = row
    return RunInfo(
        run_id=run_id,
        workflow_name=name,
        spec_json=spec_json,
        inputs=json.loads(inputs),
        meta=json.loads(meta),
        status=status,
        created_at=created_at,
    )
