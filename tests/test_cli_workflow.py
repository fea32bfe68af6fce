"""`dagwright validate`, `graph` and `schema`: output, exit codes, and no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from orchestrator._console import emit, fail, print_error
from orchestrator.cli import _register_subcommands, app
from orchestrator.config_errors import ConfigIssue
from orchestrator.spec import WorkflowSpec

_GOOD = """\
name: demo
inputs:
  topic: rate limits
  audience:
    description: who reads it
tasks:
  - id: research
    prompt: "Research {{ inputs.topic }} for {{ inputs.audience }}."
    expected_output_tokens: 800
  - id: outline
    prompt: Outline the report.
    expected_output_tokens: 100
  - id: draft
    depends_on: [research, outline]
    prompt: "Write it from {{ tasks.research.output }}."
    expected_output_tokens: 2000
"""

_BAD = """\
name: demo
tasks:
  - id: a
    prompt: hi
    agent: writr
  - id: b
    prompt: hi
    depends_on: [aa]
agents:
  writer: {system: You write.}
"""


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    _register_subcommands()
    return app


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.yaml"
    path.write_text(_GOOD)
    return path


def _ok(result: object) -> None:
    assert getattr(result, "exit_code", None) == 0, getattr(result, "stderr", "")


def _user_error(result: object) -> str:
    """Exit code 2, a message on stderr, nothing on stdout, no traceback; returns stderr."""
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert isinstance(result.exception, SystemExit)  # type: ignore[attr-defined]
    assert stderr.strip() and "Traceback" not in stderr
    assert result.stdout == ""  # type: ignore[attr-defined]
    return stderr


# validate ---------------------------------------------------------------------------


def test_validate_summarises(cli: typer.Typer, runner: CliRunner, good: Path) -> None:
    result = runner.invoke(cli, ["validate", str(good), "--set", "audience=ops"])
    _ok(result)
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == f"{good}: workflow 'demo' is valid"
    summary = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert summary["tasks"] == "3"
    assert summary["edges"] == "2"
    assert summary["roots"] == "research, outline"
    assert summary["critical path"].startswith("research -> draft (~")
    assert summary["critical path"].endswith(" s estimated)")
    assert summary["expected tokens"].endswith("+ 2,900 output)")
    assert summary["estimated cost"].startswith("$")
    assert summary["inputs"] == 'topic="rate limits", audience="ops"'


def test_validate_names_required_inputs_without_failing(
    cli: typer.Typer, runner: CliRunner, good: Path
) -> None:
    result = runner.invoke(cli, ["validate", str(good)])
    _ok(result)
    assert 'topic="rate limits", audience (required: --set audience=VALUE)' in result.stdout


def test_validate_lists_every_issue(cli: typer.Typer, runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(_BAD)
    stderr = _user_error(runner.invoke(cli, ["validate", str(path)]))
    # Printed verbatim: rich must neither eat `[...]` as markup nor wrap long lines.
    assert stderr.splitlines() == [
        f"{path}:5: tasks[0].agent: unknown agent 'writr' (did you mean 'writer'?)",
        f"{path}:8: tasks[1].depends_on[0]: unknown task 'aa' (did you mean 'a'?)",
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read file: No such file or directory"),
        ("", "the document is empty"),
        ("name: [unclosed\n", "invalid YAML"),
        (b"\xff\xfe\x00binary", "not valid UTF-8"),
        ("- just\n- a list\n", "valid dictionary"),
        ("name: x\ntasks:\n  - {id: a, prompt: p, depends_on: [a]}\n", "depends on itself"),
        ("name: x\ntasks: []\n", "at least 1 item"),
        ("name: x\ncontext: {files: [missing.md]}\ntasks: [{id: a, prompt: p}]\n", "missing.md"),
    ],
)
def test_validate_user_mistakes(
    cli: typer.Typer, runner: CliRunner, tmp_path: Path, content: str | bytes | None, expected: str
) -> None:
    path = tmp_path / "wf.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    stderr = _user_error(runner.invoke(cli, ["validate", str(path)]))
    assert stderr.startswith(f"{path}"), stderr
    assert expected in stderr


def test_validate_a_folder(cli: typer.Typer, runner: CliRunner, tmp_path: Path) -> None:
    stderr = _user_error(runner.invoke(cli, ["validate", str(tmp_path)]))
    assert "cannot read file" in stderr


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0, reason="root reads any file; no chmod"
)
def test_validate_unreadable(cli: typer.Typer, runner: CliRunner, good: Path) -> None:
    good.chmod(0)
    try:
        assert "Permission denied" in _user_error(runner.invoke(cli, ["validate", str(good)]))
    finally:
        good.chmod(0o644)


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["audience"], "--set audience: expected KEY=VALUE"),
        (["audiense=x"], "--set audiense=x: unknown input 'audiense' (did you mean 'audience'?)"),
    ],
)
def test_validate_bad_set(
    cli: typer.Typer, runner: CliRunner, good: Path, sets: list[str], expected: str
) -> None:
    args = ["validate", str(good)] + [a for s in sets for a in ("--set", s)]
    assert expected in _user_error(runner.invoke(cli, args))


def test_validate_set_of_the_wrong_type(
    cli: typer.Typer, runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text("name: x\ninputs: {n: {type: integer}}\ntasks: [{id: a, prompt: p}]\n")
    stderr = _user_error(runner.invoke(cli, ["validate", str(path), "--set", "n=many"]))
    assert stderr == "--set n=many: input 'n': expected an integer, got 'many'\n"


def test_usage_errors_exit_2(cli: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate"])
    assert result.exit_code == 2 and "Missing argument" in result.output
    assert runner.invoke(cli, ["validate", "x.yaml", "--nope"]).exit_code == 2


# graph ------------------------------------------------------------------------------


def test_graph_mermaid_highlights_the_critical_path(
    cli: typer.Typer, runner: CliRunner, good: Path
) -> None:
    result = runner.invoke(cli, ["graph", str(good)])
    _ok(result)
    lines = result.stdout.splitlines()
    assert lines[0] == "flowchart TD"
    assert lines[-1] == "    class n0,n2 critical"  # research -> draft


def test_graph_dot_to_a_file(
    cli: typer.Typer, runner: CliRunner, good: Path, tmp_path: Path
) -> None:
    out = tmp_path / "g.dot"
    result = runner.invoke(cli, ["graph", str(good), "--format", "DOT", "-o", str(out)])
    _ok(result)
    assert result.stdout == ""
    text = out.read_text()
    assert text.startswith('digraph "demo" {')
    assert '"draft" [label="draft", color="#d62728", penwidth=2];' in text
    assert '"outline" [label="outline"];' in text


def test_graph_bad_format(cli: typer.Typer, runner: CliRunner, good: Path) -> None:
    stderr = _user_error(runner.invoke(cli, ["graph", str(good), "--format", "mermiad"]))
    assert stderr == "error: unknown graph format 'mermiad' (did you mean 'mermaid'?)\n"
    stderr = _user_error(runner.invoke(cli, ["graph", str(good), "-f", "png"]))
    assert stderr == "error: unknown graph format 'png' (choose one of: mermaid, dot)\n"


def test_graph_of_a_bad_workflow(cli: typer.Typer, runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(_BAD)
    assert "unknown task 'aa'" in _user_error(runner.invoke(cli, ["graph", str(path)]))


def test_graph_output_that_cannot_be_written(
    cli: typer.Typer, runner: CliRunner, good: Path, tmp_path: Path
) -> None:
    target = tmp_path / "no" / "such" / "dir.mmd"
    result = runner.invoke(cli, ["graph", str(good), "-o", str(target)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot write {target}: No such file")


# schema -----------------------------------------------------------------------------


def test_schema(cli: typer.Typer, runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["schema"])
    _ok(result)
    assert json.loads(result.stdout) == WorkflowSpec.json_schema()
    out = tmp_path / "schema.json"
    _ok(runner.invoke(cli, ["schema", "--output", str(out)]))
    assert json.loads(out.read_text()) == WorkflowSpec.json_schema()


def test_schema_accepts_a_valid_workflow(cli: typer.Typer, runner: CliRunner) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    schema = json.loads(runner.invoke(cli, ["schema"]).stdout)
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(_GOOD))


# console helpers --------------------------------------------------------------------


def test_console_helpers(capsys: pytest.CaptureFixture[str]) -> None:
    print_error("no journal for run 'x'", "check the run id")
    assert capsys.readouterr().err == "error: no journal for run 'x' (check the run id)\n"
    with pytest.raises(typer.Exit) as info:
        fail("boom", code=1)
    assert info.value.exit_code == 1
    assert capsys.readouterr().err == "error: boom\n"
    emit("text\n", Path("-"))
    assert capsys.readouterr().out == "text\n"
    issue = ConfigIssue(file=None, line=None, path="--set [x]", message="m [bold]y[/bold]")
    from orchestrator._console import issue_text

    assert issue_text(issue).plain == str(issue)


# a real process ---------------------------------------------------------------------


def _dagwright(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_real_process_exit_codes_and_no_tracebacks(good: Path, tmp_path: Path) -> None:
    done = _dagwright("validate", str(good), "--set", "audience=ops")
    assert done.returncode == 0, done.stderr
    assert "workflow 'demo' is valid" in done.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent(_BAD))
    for args in (
        ["validate", str(bad)],
        ["validate", str(tmp_path / "missing.yaml")],
        ["validate", str(tmp_path)],
        ["validate", str(good), "--set", "nokey"],
        ["graph", str(good), "--format", "svg"],
        ["validate"],
    ):
        done = _dagwright(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.strip(), args
        assert "Traceback" not in done.stderr, done.stderr

    done = _dagwright("graph", str(good), "--format", "dot")
    assert done.returncode == 0 and done.stdout.startswith("digraph")
