"""Cross-run reuse: `dagwright run --reuse` answers unchanged tasks from earlier runs."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from orchestrator.cli import _register_subcommands, app

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "research_brief" / "workflow.yaml"


def _run(out: Path, run_id: str, *extra: str) -> dict:
    _register_subcommands()
    result = CliRunner().invoke(
        app,
        ["run", str(EXAMPLE), "--out", str(out), "--run-id", run_id, "--quiet", *extra],
        env={"ANTHROPIC_API_KEY": ""},
    )
    assert result.exit_code == 0, result.output
    return json.loads((out / run_id / "result.json").read_text(encoding="utf-8"))


def test_reuse_skips_calls_for_unchanged_tasks_only(tmp_path: Path) -> None:
    first = _run(tmp_path, "first")
    assert all(t["attempts"] >= 1 for t in first["tasks"].values())

    again = _run(tmp_path, "again", "--reuse")
    assert all(t["attempts"] == 0 and t["cost_usd"] == 0 for t in again["tasks"].values())
    for task_id in first["tasks"]:
        a = (tmp_path / "first" / "tasks").glob(f"{task_id}.*")
        b = (tmp_path / "again" / "tasks").glob(f"{task_id}.*")
        assert [p.read_text() for p in a] == [p.read_text() for p in b]

    changed = _run(tmp_path, "changed", "--reuse", "--set", "words=150")
    # The researchers' prompts do not use `words`: reused. The brief's does: called again.
    assert changed["tasks"]["history"]["attempts"] == 0
    assert changed["tasks"]["brief"]["attempts"] >= 1
