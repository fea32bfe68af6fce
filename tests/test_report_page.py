"""The report page: untrusted text is escaped, the page is self-contained, the CLI works.

The launch-side guarantees are here too: `launch` writes `report.html` for a failed run,
and a report that cannot be written costs a warning, never the run's results.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
import structlog
import typer
from report_run_helpers import in_virtual_time, make_run
from typer.testing import CliRunner

from orchestrator._report_data import ReportData, Span, TaskRow
from orchestrator._report_html import chart_json, render_html
from orchestrator.cli import _register_subcommands, app
from orchestrator.report import REPORT_FILE, build_report

HOSTILE = '</script><img src=x onerror="alert(1)">&amp;'


def _row(task_id: str, *, error: str | None = None) -> TaskRow:
    return TaskRow(
        id=task_id,
        status="failed" if error else "succeeded",
        model="claude-haiku-4-5",
        depends_on=(),
        started_at=0.0,
        finished_at=1.0,
        waited_s=0.25,
        attempts=1,
        retries=0,
        rate_limited=0,
        call_errors=0,
        input_tokens=10,
        output_tokens=5,
        cache_read_tokens=0,
        cache_write_tokens=0,
        cost_usd=0.0001,
        critical=True,
        earlier_session=False,
        error=error,
        spans=(Span(kind="wait", start=0.0, end=0.25), Span(kind="run", start=0.25, end=1.0)),
    )


def _data(**changes: object) -> ReportData:
    base: dict[str, object] = {
        "run_id": "r1",
        "workflow": "wf",
        "status": "failed",
        "reason": None,
        "backend": "built-in emulator",
        "policy": "critical_path",
        "makespan_s": 1.0,
        "tasks": (_row("a"),),
        "models": (),
        "buckets": (),
        "critical_path": ("a",),
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "cost_usd": 0.0001,
        "calls_rate_limited": 0,
        "retries": 0,
        "call_errors": 0,
        "sessions": 1,
        "lower_bound": None,
    }
    base.update(changes)
    return ReportData(**base)  # type: ignore[arg-type]


def _blob(page: str) -> dict[str, object]:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page)
    assert match is not None
    data = json.loads(match.group(1))
    assert isinstance(data, dict)
    return data


def test_untrusted_text_is_escaped_everywhere() -> None:
    data = _data(
        workflow=HOSTILE,
        run_id=HOSTILE,
        reason=HOSTILE,
        tasks=(_row(HOSTILE, error=HOSTILE),),
        critical_path=(HOSTILE,),
    )
    page = render_html(data)
    assert "<img" not in page
    assert 'onerror="' not in page
    # Exactly the page's own two script elements end, none opened by the data.
    assert page.count("</script>") == 2
    blob = _blob(page)
    tasks = blob["tasks"]
    assert isinstance(tasks, list)
    assert tasks[0]["id"] == HOSTILE  # the chart still gets the exact text back
    assert "&lt;/script&gt;&lt;img src=x" in page  # and the tables show it, escaped


def test_chart_json_has_no_characters_that_end_a_script() -> None:
    text = chart_json(_data(tasks=(_row("<>&"),)))
    assert not set(text) & set("<>&")
    tasks = json.loads(text)["tasks"]
    assert tasks[0]["id"] == "<>&"
    assert tasks[0]["spans"] == [["wait", 0.0, 0.25], ["run", 0.25, 1.0]]


def test_page_loads_nothing_from_outside() -> None:
    page = render_html(_data())
    assert "<link" not in page
    assert not re.search(r"\b(src|href)\s*=", page)
    # The only URL is the SVG namespace, which is a name, not a fetch.
    assert set(re.findall(r"https?://[^\s\"']+", page)) == {"http://www.w3.org/2000/svg"}


# The command ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    _register_subcommands()
    return app


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report-cli")
    folder, result, _ = in_virtual_time(lambda: make_run(tmp))
    assert result.status == "succeeded"
    return folder


def test_report_command_regenerates_the_page(cli: typer.Typer, run_dir: Path) -> None:
    page = run_dir / REPORT_FILE
    first = page.read_text(encoding="utf-8")
    page.unlink()
    result = CliRunner().invoke(cli, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert str(page) in result.output.replace("\n", "")
    assert page.read_text(encoding="utf-8") == first


def test_report_command_writes_elsewhere_with_o(
    cli: typer.Typer, run_dir: Path, tmp_path: Path
) -> None:
    target = tmp_path / "sub" / "r.html"
    result = CliRunner().invoke(cli, ["report", str(run_dir), "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert "report-fan-in" in target.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "nope", "does not exist"),
        (lambda tmp: tmp, "has no journal.sqlite"),
    ],
)
def test_report_command_explains_a_bad_folder(
    cli: typer.Typer, tmp_path: Path, make: object, message: str
) -> None:
    folder = make(tmp_path)  # type: ignore[operator]
    result = CliRunner().invoke(cli, ["report", str(folder)])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_report_command_explains_a_broken_journal(cli: typer.Typer, tmp_path: Path) -> None:
    (tmp_path / "journal.sqlite").write_bytes(b"not a database")
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "cannot read the run" in result.output
    assert "Traceback" not in result.output


# What launch guarantees -----------------------------------------------------------------


def test_a_failed_run_still_gets_a_report(tmp_path: Path) -> None:
    async def failing() -> object:
        # Every call gets a 500: each task fails after its retries.
        return await make_run(tmp_path, server_500=1.0)

    folder, result, stats = in_virtual_time(failing)  # type: ignore[misc]
    assert result.status == "failed"
    data = build_report(folder)
    assert data.status == "failed"
    status = {t.id: t.status for t in data.tasks}
    # fail_fast: the first part to fail stops the rest, which were running; join never ran.
    assert sorted(status.values()).count("failed") == 1
    assert status["join"] == "not run"
    assert set(status.values()) == {"failed", "cancelled", "not run"}
    assert all(t.spans for t in data.tasks if t.status == "cancelled")
    assert data.call_errors == stats["responses"]["500"]
    assert "failed" in (folder / REPORT_FILE).read_text(encoding="utf-8")


def test_a_report_that_cannot_be_written_loses_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "runs" / "r1" / REPORT_FILE
    blocker.mkdir(parents=True)  # a folder where the page should go
    with structlog.testing.capture_logs() as logs:
        folder, result, _ = in_virtual_time(lambda: make_run(tmp_path))
    assert result.status == "succeeded"
    summary = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    assert summary["status"] == "succeeded"
    with sqlite3.connect(folder / "journal.sqlite") as conn:
        assert conn.execute("SELECT status FROM run").fetchone() == ("finished",)
    warnings = [e for e in logs if e["event"] == "report.failed"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert blocker.is_dir()
