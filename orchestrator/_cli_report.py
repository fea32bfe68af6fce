"""`dagwright report RUN_DIR`: (re)write a run's self-contained `report.html`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orchestrator._console import EXIT_FAILURE, fail, stdout_console
from orchestrator.report import ReportError, write_report

__all__ = ["register", "report_command"]


def report_command(
    run_dir: Annotated[
        Path,
        typer.Argument(help="A run folder, e.g. runs/<run_id>.", metavar="RUN_DIR"),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write here (default: RUN_DIR/report.html).", metavar="FILE"
        ),
    ] = None,
) -> None:
    """Write the run report: Gantt chart, critical path, budget use, tokens and cost."""
    try:
        path = write_report(run_dir, output)
    except ReportError as exc:
        fail(exc.message, exc.hint)
    except OSError as exc:
        where = output if output is not None else run_dir
        fail(f"cannot write the report for {where}: {exc.strerror or exc}", code=EXIT_FAILURE)
    stdout_console().print(f"report written to {path}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add `report` to the `dagwright` CLI."""
    app.command("report")(report_command)
