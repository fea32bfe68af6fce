"""kill -9 in the middle of an expansion, then `dagwright resume`: the plan is not made again.

Real subprocesses (the behaviour under test is a process dying); every wait polls the
run's journal with a bounded deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.journal import JOURNAL_FILE, Journal, JournalError, TaskRecord

CLI = [sys.executable, "-m", "orchestrator.cli"]
WAIT_S = 60.0

WORKFLOW = {
    "name": "team",
    "model": "claude-haiku-4-5",
    "agents": {
        "researcher": {
            "system": "You research one question.",
            "expected_output_tokens": 300,
            "max_tokens": 1500,
        }
    },
    "tasks": [
        {
            "id": "research",
            "kind": "plan",
            "prompt": "Research rate limits: how the limits are defined and measured, how "
            "teams share one budget between many agents today, what goes wrong when they "
            "do not, and which tools or libraries help.",
            # Parallel researchers, then a child that writes from all of them.
            "plan": {"max_tasks": 5, "max_depth": 2, "agents": ["researcher"]},
        },
        {
            "id": "report",
            "depends_on": ["research"],
            "prompt": "Report:\n{{ tasks.research.output }}",
            "max_tokens": 600,
        },
    ],
}


def _env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "DAGWRIGHT_LOG_LEVEL")
    }


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *args], env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _state(run_dir: Path) -> tuple[dict[str, TaskRecord], Any]:
    path = run_dir / JOURNAL_FILE
    if not path.is_file():
        return {}, None
    try:
        with Journal.open(path, read_only=True) as journal:
            return journal.completed(), journal.expansion("research")
    except JournalError:
        return {}, None  # still being created


def _wait_until(check: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run exited ({proc.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            pytest.fail(f"timed out after {WAIT_S:g}s waiting until {what}")
        time.sleep(0.02)


def _segments(run_dir: Path) -> list[list[dict[str, Any]]]:
    out: list[list[dict[str, Any]]] = []
    for line in (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["event"] == "run.started":
            out.append([])
        out[-1].append(event)
    return out


def test_kill_9_during_an_expansion_then_resume_replays_the_journaled_plan(
    tmp_path: Path,
) -> None:
    workflow = tmp_path / "team.yaml"
    workflow.write_text(json.dumps(WORKFLOW), encoding="utf-8")
    out = tmp_path / "runs"
    run_dir = out / "victim"
    victim = _start("run", str(workflow), "--out", str(out), "--run-id", "victim", "--quiet")
    resumed: subprocess.Popen[str] | None = None
    try:

        def a_child_finished() -> bool:
            done, plan = _state(run_dir)
            return plan is not None and any(t.startswith("research.") for t in done)

        _wait_until(a_child_finished, victim, "the plan was journaled and a child finished")
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=WAIT_S)
        assert victim.returncode == -signal.SIGKILL
        before, plan = _state(run_dir)
        children = [f"research.{t['id']}" for t in plan["tasks"]]
        assert len(children) >= 3
        finished = [t for t in before if t.startswith("research.")]
        assert 1 <= len(finished) < len(children), "the kill came too late to test anything"
        assert "research" not in before and "report" not in before

        resumed = _start("resume", "victim", "--out", str(out), "--quiet")
        _, stderr = resumed.communicate(timeout=WAIT_S)
        assert resumed.returncode == 0, stderr
    finally:
        for proc in (victim, resumed):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()

    after, plan_after = _state(run_dir)
    assert plan_after == plan  # the same plan: not made again
    assert sorted(after) == sorted([*children, "research", "report"])
    for task_id in finished:
        assert after[task_id] == before[task_id], task_id  # finished children kept as they were
    first, second = _segments(run_dir)
    assert second[0]["resumed"] == len(before)
    (expanded,) = [e for e in second if e["event"] == "task.expanded"]
    assert expanded["replayed"] is True
    started_again = {e["task_id"] for e in second if e["event"] == "task.started"}
    assert started_again == (set(children) - set(finished)) | {"research", "report"}
    # The plan task's record still carries what planning cost before the crash.
    assert after["research"].usage.output_tokens >= plan["usage"]["output_tokens"] > 0
    # What the report was asked to use: every child's sink output, through the plan task.
    sinks = [c for c in children if c.endswith("write_answer")] or children
    for sink in sinks:
        assert after[sink].output.strip() in after["research"].output
    summary = json.loads((run_dir / "result.json").read_text(encoding="utf-8"))
    assert summary["status"] == "succeeded"
    assert first[0]["event"] == "run.started"
