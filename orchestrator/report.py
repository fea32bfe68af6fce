"""The run report: one self-contained `report.html` per run folder.

`build_report(run_dir)` reads what the run left (journal, `events.jsonl`, `result.json`)
into a `ReportData`; `write_report(run_dir)` renders it to `run_dir/report.html`. The page
needs no network: its data is embedded as JSON and its charts are drawn by inline script.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestrator._report_data import (
    BucketSeries,
    LowerBoundInfo,
    ModelRow,
    ReportData,
    Span,
    TaskRow,
    report_data,
)
from orchestrator._report_html import render_html
from orchestrator.config_errors import ConfigError
from orchestrator.journal import JOURNAL_FILE, Journal, JournalError
from orchestrator.limits import MODEL_CLASSES, ModelLimits
from orchestrator.spec import WorkflowSpec

__all__ = [
    "REPORT_FILE",
    "BucketSeries",
    "LowerBoundInfo",
    "ModelRow",
    "ReportData",
    "ReportError",
    "Span",
    "TaskRow",
    "build_report",
    "render_html",
    "write_report",
]

REPORT_FILE = "report.html"


class ReportError(Exception):
    """A folder that holds no readable run; `hint` says what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message + (f" ({self.hint})" if self.hint else "")


def _read_events(path: Path) -> list[dict[str, Any]]:
    """The events of `events.jsonl`; a torn last line (a killed run) is skipped."""
    if not path.is_file():
        return []
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def _read_result(path: Path) -> dict[str, Any] | None:
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return result if isinstance(result, dict) else None


def _limits(spec_json: str) -> tuple[dict[str, ModelLimits], str]:
    """The spec's limits per model class (empty when unknown) and its accounting mode."""
    try:
        spec = WorkflowSpec.model_validate_json(spec_json)
    except (ValueError, ConfigError):
        # Limits only add the lower bound; a spec this version cannot read loses just that.
        return {}, "actual"
    if spec.limits is None:
        return {}, "actual"
    out = {}
    for name, _ in MODEL_CLASSES:
        limits = spec.limits.for_class(name)
        if limits is not None:
            out[name] = limits
    return out, spec.limits.accounting


def build_report(run_dir: str | Path) -> ReportData:
    """The report data of the run in `run_dir`; `ReportError` if it holds no run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        what = "is a file, not a run folder" if run_dir.exists() else "does not exist"
        raise ReportError(
            f"run folder {run_dir} {what}",
            "pass a folder made by `dagwright run`, e.g. runs/<run_id>",
        )
    journal_file = run_dir / JOURNAL_FILE
    if not journal_file.is_file():
        raise ReportError(
            f"{run_dir} is not a run folder: it has no {JOURNAL_FILE}",
            "pass a folder made by `dagwright run`, e.g. runs/<run_id>",
        )
    try:
        with Journal.open(journal_file, read_only=True) as journal:
            info = journal.run_info()
            records = journal.records()
            expansions = journal.expansions()
    except JournalError as exc:
        raise ReportError(f"cannot read the run in {run_dir}: {exc.message}", exc.hint) from None
    limits, accounting = _limits(info.spec_json)
    return report_data(
        info=info,
        records=records,
        events=_read_events(run_dir / "events.jsonl"),
        result=_read_result(run_dir / "result.json"),
        limits=limits,
        accounting=accounting,
        expansions=expansions,
    )


def write_report(run_dir: str | Path, path: str | Path | None = None) -> Path:
    """Write the report of the run in `run_dir` to `path` (default `run_dir/report.html`)."""
    run_dir = Path(run_dir)
    data = build_report(run_dir)
    target = Path(path) if path is not None else run_dir / REPORT_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(render_html(data), encoding="utf-8")
    tmp.replace(target)
    return target
