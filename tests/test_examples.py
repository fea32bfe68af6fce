"""Every `examples/*/workflow.yaml` validates and runs to success on the built-in emulator."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from orchestrator.cli import _register_subcommands, app, configure_logging
from orchestrator.spec import load_workflow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
WORKFLOWS = sorted(EXAMPLES.glob("*/workflow.yaml"))


def _name(path: Path) -> str:
    return path.parent.name


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    _register_subcommands()
    return app


class _Runs:
    """Each example run once (on first use) for the whole module; summaries by workflow."""

    def __init__(self, cli: typer.Typer, out: Path) -> None:
        self.cli = cli
        self.out = out
        self.summaries: dict[Path, dict[str, Any]] = {}

    def __call__(self, workflow: Path) -> tuple[dict[str, Any], Path]:
        if workflow not in self.summaries:
            out = self.out / _name(workflow)
            with pytest.MonkeyPatch.context() as patch:
                # No API key: the built-in emulator. Quiet logs: stdout is the JSON summary.
                patch.delenv("ANTHROPIC_API_KEY", raising=False)
                configure_logging("warning")
                args = ["run", str(workflow), "--out", str(out), "--json"]
                result = CliRunner().invoke(self.cli, args)
            assert result.exit_code == 0, result.output
            self.summaries[workflow] = json.loads(result.stdout)
        summary = self.summaries[workflow]
        return summary, self.out / _name(workflow) / summary["run_id"]


@pytest.fixture(scope="module")
def runs(cli: typer.Typer, tmp_path_factory: pytest.TempPathFactory) -> _Runs:
    return _Runs(cli, tmp_path_factory.mktemp("example-runs"))


def test_examples_are_found() -> None:
    assert {_name(p) for p in WORKFLOWS} >= {
        "research_brief",
        "code_review",
        "map_reduce_summary",
        "research_team",
    }
    for path in WORKFLOWS:
        assert (path.parent / "README.md").is_file(), f"{_name(path)} has no README.md"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=_name)
def test_example_validates(cli: typer.Typer, workflow: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(workflow)])
    assert result.exit_code == 0, result.output
    assert "is valid" in result.stdout


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=_name)
def test_example_runs_offline(runs: _Runs, workflow: Path) -> None:
    spec = load_workflow(workflow)
    summary, run_dir = runs(workflow)
    assert summary["status"] == "succeeded", summary
    assert summary["backend"].startswith("built-in emulator")
    assert json.loads((run_dir / "result.json").read_text()) == summary
    assert (run_dir / "events.jsonl").is_file()
    assert (run_dir / "journal.sqlite").is_file()
    tasks = summary["tasks"]
    # A plan task adds the tasks it expanded into, as `<plan task>.<id>`.
    plans = {t.id for t in spec.tasks if t.kind == "plan"}
    expanded = [t for t in tasks if t.partition(".")[0] in plans and "." in t]
    assert sorted(tasks) == sorted([*(t.id for t in spec.tasks), *expanded])
    assert all(tasks[t]["status"] == "succeeded" for t in expanded), tasks
    assert not plans or expanded, "no plan task expanded"
    for task in spec.tasks:
        assert tasks[task.id]["status"] == "succeeded", (task.id, tasks[task.id])
        structured = task.output_schema is not None or (
            task.agent is not None and spec.agents[task.agent].output_schema is not None
        )
        file = run_dir / "tasks" / f"{task.id}.{'json' if structured else 'md'}"
        assert file.is_file(), f"missing {file.name}"
        text = file.read_text(encoding="utf-8")
        assert text.strip()
        if structured:
            json.loads(text)
    assert sorted(p.stem for p in (run_dir / "tasks").iterdir()) == sorted(tasks)


def test_code_review_reviewers_read_the_cached_code(runs: _Runs) -> None:
    summary, _ = runs(EXAMPLES / "code_review" / "workflow.yaml")
    usage = {task_id: task["usage"] for task_id, task in summary["tasks"].items()}
    # The shared code must be long enough to be cached at all (1,024 tokens on Sonnet).
    written = usage["overview"]["cache_creation_input_tokens"]
    assert written > 1024
    for reviewer in ("security", "performance", "readability", "tests"):
        assert usage[reviewer]["cache_read_input_tokens"] == written, reviewer
        assert usage[reviewer]["cache_creation_input_tokens"] == 0, reviewer
        assert usage[reviewer]["input_tokens"] < written / 4, reviewer


def test_map_reduce_workflow_is_what_its_builder_writes() -> None:
    folder = EXAMPLES / "map_reduce_summary"
    script = folder / "build_workflow.py"
    module_spec = importlib.util.spec_from_file_location("build_workflow", script)
    assert module_spec is not None and module_spec.loader is not None
    builder = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(builder)
    expected = builder.build(folder / "docs")
    assert (folder / "workflow.yaml").read_text(encoding="utf-8") == expected, (
        "examples/map_reduce_summary/workflow.yaml is out of date: "
        "run python examples/map_reduce_summary/build_workflow.py"
    )
    spec = load_workflow(folder / "workflow.yaml")
    maps = [t for t in spec.tasks if t.id != "digest"]
    assert len(maps) == len(list((folder / "docs").glob("*.md")))
    assert sorted(spec.task("digest").depends_on) == sorted(t.id for t in maps)
    for task in maps:
        assert not task.depends_on
