"""`kind: plan` tasks in YAML workflows, run on the emulator in virtual time.

The manager plans each plan task on the emulator (which answers planning requests with
deterministic plans derived from the goal's clauses); the children run as `<plan>.<id>`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from anthropic._base_client import get_platform

from orchestrator.config_errors import ConfigError
from orchestrator.journal import JOURNAL_FILE, Journal
from orchestrator.launch import emulator_backend, launch
from orchestrator.runner import RunResult
from orchestrator.spec import parse_workflow

GOAL = (
    "Research rate limits: how the limits are defined and measured, how teams share one "
    "budget between many agents today, what goes wrong when they do not, and which tools "
    "or libraries help."
)


def _workflow(plan: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "name": "team",
        "model": "claude-haiku-4-5",
        "agents": {
            "researcher": {
                "system": "You research one question.",
                "expected_output_tokens": 120,
                "max_tokens": 400,
            },
        },
        "tasks": [
            {"id": "research", "kind": "plan", "prompt": GOAL, "plan": plan},
            {
                "id": "report",
                "depends_on": ["research"],
                "expected_output_tokens": 100,
                "max_tokens": 400,
                "prompt": "Report from these notes:\n{{ tasks.research.output }}",
            },
        ],
        **top,
    }


async def _run(tmp_path: Path, data: dict[str, Any], run_id: str = "r") -> RunResult:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "workflow.yaml"
    text = json.dumps(data)
    path.write_text(text, encoding="utf-8")
    spec = parse_workflow(text, file=str(path), base_dir=tmp_path)
    backend = emulator_backend(spec, seed=3)
    sdk = backend.client.sdk  # type: ignore[attr-defined]
    if getattr(sdk, "_platform", None) is None:
        sdk._platform = get_platform()  # no worker thread: virtual time stays virtual
    try:
        return await launch(
            spec,
            inputs={},
            backend=backend,
            out_root=tmp_path / "runs",
            run_id=run_id,
            workflow_path=path,
            workflow_text=text,
            seed=3,
        )
    finally:
        await backend.aclose()


def _children(result: RunResult) -> list[str]:
    return sorted(t for t in result.records if t.startswith("research."))


@pytest.mark.looptime
async def test_the_expanded_tasks_outputs_flow_to_the_plan_tasks_dependants(
    tmp_path: Path,
) -> None:
    result = await _run(tmp_path, _workflow({"max_tasks": 4, "max_depth": 1}))
    assert result.ok, {t: r.error for t, r in result.records.items()}
    children = _children(result)
    assert len(children) >= 2  # parallel researchers
    starts = {result.records[c].started_at for c in children}
    assert len(starts) == 1  # independent: all started together, after planning
    joined = result.output("research")
    for child in children:
        assert result.output(child).strip() in joined
    # The dependant's request carried the joined notes.
    with Journal.open(tmp_path / "runs" / "r" / JOURNAL_FILE, read_only=True) as journal:
        (turn,) = journal.transcript("report")
        recorded = journal.expansions()
    sent = json.dumps(turn)
    for child in children:
        assert json.dumps(result.output(child).strip())[1:-1] in sent
    assert [f"research.{t['id']}" for t in recorded["research"]["tasks"]] == children
    # Planning spend is on the plan task's record, and counted in the run's total.
    assert result.records["research"].usage.output_tokens > 0
    assert result.records["research"].cost_usd > 0
    files = sorted(p.name for p in (tmp_path / "runs" / "r" / "tasks").iterdir())
    assert files == sorted(f"{t}.md" for t in result.records)


@pytest.mark.looptime
async def test_the_plan_caps_bound_the_expansion(tmp_path: Path) -> None:
    wide = await _run(tmp_path / "wide", _workflow({"max_tasks": 8, "max_depth": 2}))
    narrow = await _run(tmp_path / "narrow", _workflow({"max_tasks": 2, "max_depth": 1}))
    assert wide.ok and narrow.ok
    assert len(_children(wide)) > 2  # the goal asks for more than the narrow caps allow
    assert len(_children(narrow)) <= 2
    # max_depth 1: no child depends on another.
    for child in _children(narrow):
        assert narrow.records[child].started_at == narrow.records[_children(narrow)[0]].started_at


@pytest.mark.looptime
async def test_the_run_caps_stop_children_once_planning_crossed_them(tmp_path: Path) -> None:
    # The plan's prediction (~600 tokens) fits the cap; planning itself (~1,400 tokens
    # with the planner's prompt) crosses it: the plan is kept, no child starts.
    result = await _run(tmp_path, _workflow({"max_tasks": 4}, max_total_tokens=1000))
    assert result.status == "stopped", result.records["research"].error
    assert "max_total_tokens 1,000 exceeded" in (result.reason or "")
    children = _children(result)
    assert children and all(result.records[c].status == "skipped" for c in children)
    assert result.records["report"].status == "skipped"


@pytest.mark.looptime
async def test_a_plan_must_fit_the_run_caps(tmp_path: Path) -> None:
    # The run's cap bounds the plan's prediction too: no plan of this goal fits 200 tokens.
    result = await _run(tmp_path, _workflow({"max_tasks": 4}, max_total_tokens=200))
    assert result.status == "failed"
    error = result.records["research"].error or ""
    assert "no valid plan" in error and "more than the cap of 200" in error
    assert _children(result) == []


@pytest.mark.looptime
async def test_synthesize_merges_the_children_with_one_more_call(tmp_path: Path) -> None:
    joined = await _run(tmp_path / "j", _workflow({"max_tasks": 4, "max_depth": 1}))
    merged = await _run(
        tmp_path / "m", _workflow({"max_tasks": 4, "max_depth": 1, "synthesize": True})
    )
    assert joined.ok and merged.ok
    children = _children(merged)
    text = merged.output("research")
    assert not any(merged.output(c).strip() in text for c in children)  # a new text
    # Planning plus the synthesis call: more output than planning alone.
    assert (
        merged.records["research"].usage.output_tokens
        > joined.records["research"].usage.output_tokens
    )


def test_plan_settings_are_checked_with_the_workflow() -> None:
    data = _workflow({"max_tasks": 0, "agents": ["reseacher"]})
    with pytest.raises(ConfigError) as info:
        parse_workflow(json.dumps(data))
    text = str(info.value)
    assert "tasks[0].plan.max_tasks" in text
    data = _workflow({"agents": ["reseacher"]})
    with pytest.raises(ConfigError, match="unknown agent 'reseacher'") as info:
        parse_workflow(json.dumps(data))
    assert "researcher" in str(info.value)  # did you mean
    data = _workflow({})
    data["tasks"][1]["plan"] = {"max_tasks": 3}
    with pytest.raises(ConfigError, match="only for tasks of kind: plan"):
        parse_workflow(json.dumps(data))
