"""`RunHooks`: called in order with the right arguments; an exception is reported, not lost."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from agents import Agent, LLMRequest, ScriptedLLM, ToolCall, tool
from orchestrator import HookError, RunHooks, RunResult, TaskNode, TaskRecord, Workflow
from orchestrator.events import EVENT_NAMES, Event
from orchestrator.graph import TaskGraph
from orchestrator.journal import JOURNAL_FILE, Journal
from orchestrator.launch import Backend


@tool
def search(query: str) -> str:
    """Search the notes.

    Args:
        query: What to look for.
    """
    return f"notes on {query}"


def _tool_then_answer(request: LLMRequest) -> Any:
    """A tool call on the first turn, an answer once the tool's result is in."""
    last = request.messages[-1]["content"]
    if any(isinstance(b, Mapping) and b.get("type") == "tool_result" for b in last):
        return ScriptedLLM.text("answer after " + str(last[0].get("content")))
    return ScriptedLLM.tool_call("search", {"query": "buckets"}, id="toolu_1")


def scripted() -> Backend:
    llm = ScriptedLLM.from_function(_tool_then_answer)
    return Backend(client=llm, description="scripted", offline=True)


class Recorder(RunHooks):
    """Records every call; raises in the hook named by `fail` (for task `fail_task`)."""

    def __init__(self, fail: str | None = None, fail_task: str | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail = fail
        self.fail_task = fail_task

    def _note(self, hook: str, *args: Any) -> None:
        self.calls.append((hook, *args))
        task_ok = self.fail_task is None or (args and args[0] == self.fail_task)
        if hook == self.fail and task_ok:
            raise RuntimeError(f"{hook} says no")

    async def on_run_start(self, run_id: str, graph: TaskGraph, inputs: Mapping[str, Any]) -> None:
        self._note("on_run_start", run_id, list(graph.order), dict(inputs))

    async def on_task_start(self, task_id: str, node: TaskNode) -> None:
        self._note("on_task_start", task_id, node.kind)

    async def on_budget_wait(self, task_id: str, waited_s: float, attempt: int) -> None:
        self._note("on_budget_wait", task_id, attempt)

    async def on_turn(self, task_id: str, turn: int, messages: list[dict[str, Any]]) -> None:
        self._note("on_turn", task_id, turn, [m["role"] for m in messages])

    async def on_tool_call(self, task_id: str, call: ToolCall) -> None:
        self._note("on_tool_call", task_id, call.name, dict(call.input), call.outcome.content)

    async def on_task_end(self, task_id: str, record: TaskRecord) -> None:
        self._note("on_task_end", task_id, record.status)

    async def on_run_end(self, result: RunResult) -> None:
        self._note("on_run_end", result.status)


def workflow(**options: Any) -> Workflow:
    wf = Workflow("hooks", limits="tier2", inputs={"topic": "caching"}, **options)
    wf.step("load", lambda inputs: inputs["topic"])
    researcher = Agent("researcher", model="claude-haiku-4-5", tools=[search])
    wf.task("notes", agent=researcher, prompt="{{ tasks.load.output }}", depends_on=["load"])
    wf.step("report", lambda notes: notes.upper(), depends_on=["notes"])
    return wf


async def _run(wf: Workflow, hooks: RunHooks, tmp_path: Path, **options: Any) -> RunResult:
    return await wf.run(backend=scripted(), out=tmp_path, run_id="r", hooks=hooks, **options)


async def test_hooks_are_called_in_order_with_the_right_arguments(tmp_path: Path) -> None:
    hooks = Recorder()
    result = await _run(workflow(), hooks, tmp_path)
    assert result.ok
    assert hooks.calls == [
        ("on_run_start", "r", ["load", "notes", "report"], {"topic": "caching"}),
        ("on_task_start", "load", "step"),
        ("on_task_end", "load", "succeeded"),
        ("on_task_start", "notes", "model"),
        ("on_tool_call", "notes", "search", {"query": "buckets"}, "notes on buckets"),
        ("on_turn", "notes", 1, ["user", "assistant", "user"]),
        ("on_turn", "notes", 2, ["user", "assistant", "user", "assistant"]),
        ("on_task_end", "notes", "succeeded"),
        ("on_task_start", "report", "step"),
        ("on_task_end", "report", "succeeded"),
        ("on_run_end", "succeeded"),
    ]
    assert result.output("report") == "ANSWER AFTER NOTES ON BUCKETS"


async def test_plain_functions_work_as_hooks_and_unset_ones_do_nothing(tmp_path: Path) -> None:
    seen: list[str] = []

    class Ends(RunHooks):
        def on_task_end(self, task_id: str, record: TaskRecord) -> None:  # type: ignore[override]
            seen.append(task_id)

    result = await _run(workflow(), Ends(), tmp_path)
    assert result.ok and seen == ["load", "notes", "report"]


@pytest.mark.looptime
async def test_on_budget_wait_comes_between_task_start_and_its_turn(tmp_path: Path) -> None:
    # A burst of one request, refilled once a second: the second task's call must wait.
    limits = {"classes": {"haiku-4": {"rpm": 60, "itpm": 100_000, "otpm": 100_000}}}
    limits["classes"]["haiku-4"]["rpm_burst"] = 1
    wf = Workflow("waits", limits=limits)
    for name in ("a", "b"):
        wf.task(name, model="claude-haiku-4-5", prompt=f"answer {name}")
    hooks = Recorder()
    llm = ScriptedLLM.from_function(lambda request: "fine")
    result = await wf.run(
        backend=Backend(client=llm, description="scripted", offline=True),
        out=tmp_path,
        hooks=hooks,
    )
    assert result.ok
    waited = {c[1] for c in hooks.calls if c[0] == "on_budget_wait"}
    assert "b" in waited  # at least the second call had to wait for its request
    for task_id in waited:
        mine = [c[0] for c in hooks.calls if c[1:2] == (task_id,)]
        assert mine == ["on_task_start", "on_budget_wait", "on_turn", "on_task_end"]


@pytest.mark.parametrize("hook", ["on_task_start", "on_tool_call", "on_turn", "on_task_end"])
async def test_an_exception_in_a_task_hook_fails_the_task_and_is_reported(
    hook: str, tmp_path: Path
) -> None:
    events: list[Event] = []
    hooks = Recorder(fail=hook, fail_task="notes")
    result = await _run(workflow(), hooks, tmp_path, listeners=[events.append])
    assert result.status == "failed"
    error = result["notes"].error or ""
    assert f"hook {hook} (task 'notes') raised RuntimeError: {hook} says no" in error
    assert result["report"].status == "skipped"
    reported = [e for e in events if e.name == "hook.error"]
    assert [(e.task_id, e.data["hook"]) for e in reported] == [("notes", hook)]
    assert reported[0].data["error"] == f"RuntimeError: {hook} says no"
    assert "hook.error" in EVENT_NAMES
    lines = (tmp_path / "r" / "events.jsonl").read_text().splitlines()
    assert any(json.loads(line)["event"] == "hook.error" for line in lines)
    assert hooks.calls[-2] == ("on_task_end", "notes", "failed") or hook == "on_task_end"
    assert hooks.calls[-1] == ("on_run_end", "failed")


async def test_a_failing_on_task_end_keeps_what_the_task_spent(tmp_path: Path) -> None:
    result = await _run(workflow(), Recorder(fail="on_task_end", fail_task="notes"), tmp_path)
    record = result["notes"]
    assert record.status == "failed" and record.output.startswith("answer after")
    assert record.usage.output_tokens > 0 and record.cost_usd > 0


@pytest.mark.looptime
async def test_an_exception_in_on_budget_wait_fails_its_task(tmp_path: Path) -> None:
    limits = {"classes": {"haiku-4": {"rpm": 60, "itpm": 100_000, "otpm": 100_000}}}
    limits["classes"]["haiku-4"]["rpm_burst"] = 1
    wf = Workflow("waits", limits=limits, on_failure="continue")
    for name in ("a", "b"):
        wf.task(name, model="claude-haiku-4-5", prompt=f"answer {name}")
    llm = ScriptedLLM.from_function(lambda request: "fine")
    result = await wf.run(
        backend=Backend(client=llm, description="scripted", offline=True),
        out=tmp_path,
        hooks=Recorder(fail="on_budget_wait", fail_task="b"),
    )
    assert result.status == "failed"
    assert result["a"].status == "succeeded"
    assert "hook on_budget_wait (task 'b') raised" in (result["b"].error or "")


async def test_an_exception_in_on_run_start_stops_the_run_before_any_task(
    tmp_path: Path,
) -> None:
    hooks = Recorder(fail="on_run_start")
    events: list[Event] = []
    with pytest.raises(HookError, match="hook on_run_start raised RuntimeError") as info:
        await _run(workflow(), hooks, tmp_path, listeners=[events.append])
    assert isinstance(info.value.__cause__, RuntimeError) and info.value.result is None
    assert [c[0] for c in hooks.calls] == ["on_run_start"]
    assert [e.name for e in events] == ["hook.error"]
    with Journal.open(tmp_path / "r" / JOURNAL_FILE, read_only=True) as journal:
        assert journal.run_info().status == "failed"


async def test_an_exception_in_on_run_end_comes_with_the_result(tmp_path: Path) -> None:
    with pytest.raises(HookError, match="hook on_run_end raised") as info:
        await _run(workflow(), Recorder(fail="on_run_end"), tmp_path)
    result = info.value.result
    assert result is not None and result.ok
    assert (tmp_path / "r" / "tasks" / "report.md").is_file()  # outputs were written first
