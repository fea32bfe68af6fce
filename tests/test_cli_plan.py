"""`dagwright plan "goal"` and `dagwright run --goal`, offline on the built-in emulator."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from orchestrator._cli_plan import confirm_or_exit
from orchestrator.cli import _register_subcommands, app, configure_logging
from orchestrator.graph import TaskGraph
from orchestrator.spec import load_workflow

GOAL = "Compare the rate limits of three LLM APIs, and recommend one for a small team"


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    _register_subcommands()
    return app


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # wide enough that the plan table does not fold ids
    configure_logging("warning")


def test_plan_writes_a_workflow_that_validates_and_runs_unchanged(
    cli: typer.Typer, tmp_path: Path
) -> None:
    target = tmp_path / "plan.yaml"
    planned = CliRunner().invoke(cli, ["plan", GOAL, "-o", str(target)])
    assert planned.exit_code == 0, planned.output
    # The plan and its prediction were shown before anything ran.
    shown = planned.stderr
    for expected in ("critical path", "predicted tokens", "predicted cost", "predicted time"):
        assert expected in shown, shown
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# Planned by `dagwright plan`")
    spec = load_workflow(target)
    graph = TaskGraph.from_spec(spec)
    assert len(graph) >= 2 and len(graph.leaves) == 1  # parallel research, one answer
    for node in graph:
        assert node.id in shown

    validated = CliRunner().invoke(cli, ["validate", str(target)])
    assert validated.exit_code == 0, validated.output
    before = target.read_text(encoding="utf-8")
    out = tmp_path / "runs"
    ran = CliRunner().invoke(cli, ["run", str(target), "--out", str(out), "--json"])
    assert ran.exit_code == 0, ran.output
    summary = json.loads(ran.stdout)
    assert summary["status"] == "succeeded"
    assert sorted(summary["tasks"]) == sorted(graph.order)
    assert target.read_text(encoding="utf-8") == before  # run takes it as written


def test_plan_is_deterministic_and_prints_yaml_without_output(
    cli: typer.Typer, tmp_path: Path
) -> None:
    first = CliRunner().invoke(cli, ["plan", GOAL, "--quiet"])
    second = CliRunner().invoke(cli, ["plan", GOAL, "--quiet"])
    assert first.exit_code == second.exit_code == 0, first.output
    assert first.stdout == second.stdout
    data = yaml.safe_load(first.stdout)
    assert data["name"].startswith("plan-compare-the-rate")
    assert [t["id"] for t in data["tasks"]]


def test_plan_caps_from_the_command_line(cli: typer.Typer) -> None:
    wide = yaml.safe_load(CliRunner().invoke(cli, ["plan", GOAL, "-q"]).stdout)
    one = CliRunner().invoke(cli, ["plan", GOAL, "-q", "--max-tasks", "2", "--max-depth", "1"])
    assert one.exit_code == 0, one.output
    narrow = yaml.safe_load(one.stdout)
    assert len(narrow["tasks"]) <= 2 < len(wide["tasks"])
    assert not any(t.get("depends_on") for t in narrow["tasks"])


def test_plan_refuses_to_overwrite_without_yes(cli: typer.Typer, tmp_path: Path) -> None:
    target = tmp_path / "plan.yaml"
    target.write_text("keep me", encoding="utf-8")
    refused = CliRunner().invoke(cli, ["plan", GOAL, "-o", str(target)])
    assert refused.exit_code == 2
    assert "exists" in refused.stderr and "--yes" in refused.stderr
    assert target.read_text(encoding="utf-8") == "keep me"
    replaced = CliRunner().invoke(cli, ["plan", GOAL, "-o", str(target), "--yes", "-q"])
    assert replaced.exit_code == 0, replaced.output
    assert load_workflow(target).tasks


def test_plan_with_an_empty_goal_or_bad_tier_is_a_usage_error(cli: typer.Typer) -> None:
    empty = CliRunner().invoke(cli, ["plan", "  "])
    assert empty.exit_code == 2 and "goal is empty" in empty.stderr
    tier = CliRunner().invoke(cli, ["plan", GOAL, "--tier", "tier9"])
    assert tier.exit_code == 2 and "unknown tier 'tier9'" in tier.stderr
    assert "Traceback" not in empty.output + tier.output


def test_run_goal_without_a_terminal_needs_yes(cli: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    result = CliRunner().invoke(cli, ["run", "--goal", GOAL, "--out", str(out)])
    assert result.exit_code == 2
    assert "no terminal" in result.stderr and "--yes" in result.stderr
    assert not out.exists()  # refused before planning: nothing was spent or written


def test_run_goal_with_yes_plans_and_runs_offline(cli: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    args = ["run", "--goal", GOAL, "--yes", "--out", str(out), "--run-id", "g", "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "predicted cost" in result.stderr  # shown before it ran
    summary = json.loads(result.stdout)
    assert summary["status"] == "succeeded"
    assert summary["backend"].startswith("built-in emulator")
    planned = load_workflow(out / "g" / "workflow.yaml")
    assert sorted(summary["tasks"]) == sorted(t.id for t in planned.tasks)
    # The run is resumable like any other: its journal holds the planned workflow.
    resumed = CliRunner().invoke(cli, ["resume", "g", "--out", str(out), "--json"])
    assert resumed.exit_code == 0, resumed.output


def test_run_needs_exactly_one_of_file_and_goal(cli: typer.Typer, tmp_path: Path) -> None:
    neither = CliRunner().invoke(cli, ["run", "--out", str(tmp_path)])
    assert neither.exit_code == 2 and "--goal" in neither.stderr
    workflow = tmp_path / "w.yaml"
    workflow.write_text("name: w\ntasks:\n  - id: a\n    prompt: hi\n", encoding="utf-8")
    both = CliRunner().invoke(cli, ["run", str(workflow), "--goal", GOAL, "--yes"])
    assert both.exit_code == 2 and "not both" in both.stderr


class _Terminal(io.StringIO):
    """A stdin that says it is a terminal, with the user's typed answer in it."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("typed", "runs"), [("y\n", True), ("n\n", False), ("\n", False)])
def test_on_a_terminal_the_plan_runs_only_after_a_yes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], typed: str, runs: bool
) -> None:
    monkeypatch.setattr(sys, "stdin", _Terminal(typed))
    if runs:
        confirm_or_exit(False, "Run this plan?")
    else:
        with pytest.raises(typer.Exit) as info:
            confirm_or_exit(False, "Run this plan?")
        assert info.value.exit_code == 1
        assert "not run." in capsys.readouterr().err
    confirm_or_exit(True, "never asked")  # --yes: no question at all
