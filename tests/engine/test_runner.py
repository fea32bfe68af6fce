"""The runner on plain executors, in virtual time."""

from __future__ import annotations

import asyncio

import pytest

from agents.usage import Usage
from orchestrator.graph import TaskGraph, TaskNode
from orchestrator.journal import Journal
from orchestrator.runner import RunCaps, Runner, TaskContext, TaskOutput


def _graph(edges: dict[str, tuple[str, ...]]) -> TaskGraph:
    return TaskGraph([TaskNode(id=t, depends_on=deps) for t, deps in edges.items()])


def _executor(durations: dict[str, float], fail: set[str] = frozenset(), log=None):
    async def execute(ctx: TaskContext) -> TaskOutput:
        if log is not None:
            log.append(("start", ctx.task_id, asyncio.get_running_loop().time()))
        await asyncio.sleep(durations.get(ctx.task_id, 1.0))
        if ctx.task_id in fail:
            raise RuntimeError(f"boom in {ctx.task_id}")
        upstream = ",".join(sorted(d for d in ctx.node.depends_on))
        return TaskOutput(
            output=f"{ctx.task_id}<-{upstream}",
            usage=Usage(input_tokens=10, output_tokens=5),
            cost_usd=0.01,
        )

    return execute


DIAMOND = {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c")}


@pytest.mark.looptime
async def test_diamond_runs_in_dependency_order_and_in_parallel() -> None:
    log: list[tuple[str, str, float]] = []
    runner = Runner(
        _graph(DIAMOND),
        _executor({"a": 1, "b": 2, "c": 3, "d": 1}, log=log),
        run_id="r1",
    )
    result = await runner.run()
    assert result.ok
    starts = {t: at for _, t, at in log}
    assert starts["a"] == 0
    assert starts["b"] == starts["c"] == 1  # both start as soon as a finishes
    assert starts["d"] == 4  # after the slower branch
    assert result.makespan_s == pytest.approx(5)
    assert result.records["d"].output == "d<-b,c"
    assert result.usage.output_tokens == 20
    assert result.cost_usd == pytest.approx(0.04)


@pytest.mark.looptime
async def test_fail_fast_cancels_and_skips_the_rest() -> None:
    runner = Runner(
        _graph(DIAMOND), _executor({"b": 1, "c": 5}, fail={"b"}), run_id="r", on_failure="fail_fast"
    )
    result = await runner.run()
    assert result.status == "failed"
    assert result.records["b"].status == "failed"
    assert "boom in b" in (result.records["b"].error or "")
    assert result.records["c"].status == "skipped"  # cancelled while running, not recorded
    assert result.records["d"].status == "skipped"
    assert result.makespan_s == pytest.approx(2)


@pytest.mark.looptime
async def test_continue_runs_everything_not_downstream_of_a_failure() -> None:
    graph = _graph({**DIAMOND, "e": ("c",)})
    result = await Runner(graph, _executor({}, fail={"b"}), run_id="r", on_failure="continue").run()
    assert result.status == "failed"
    assert result.ids("succeeded") == ["a", "c", "e"]
    assert result.records["d"].status == "skipped"
    assert "upstream task 'b' failed" in (result.records["d"].error or "")


@pytest.mark.looptime
async def test_concurrency_cap_admits_longest_tail_first() -> None:
    log: list[tuple[str, str, float]] = []
    graph = _graph({"x": (), "y": (), "z": ("y",), "w": ("z",)})
    runner = Runner(graph, _executor({}, log=log), run_id="r", max_concurrency=1)
    result = await runner.run()
    assert result.ok
    assert next(t for _, t, _ in log) == "y"  # head of the longest chain goes first


@pytest.mark.looptime
async def test_token_cap_stops_admission() -> None:
    graph = _graph({"a": (), "b": ("a",), "c": ("b",)})
    runner = Runner(graph, _executor({}), run_id="r", caps=RunCaps(max_total_tokens=20))
    result = await runner.run()
    assert result.status == "stopped"
    assert result.ids("succeeded") == ["a", "b"]
    assert "max_total_tokens" in (result.reason or "")
    assert "max_total_tokens" in (result.records["c"].error or "")


@pytest.mark.looptime
async def test_deadline_cancels_in_flight_and_keeps_finished() -> None:
    graph = _graph({"a": (), "b": ("a",)})
    runner = Runner(graph, _executor({"a": 1, "b": 100}), run_id="r", caps=RunCaps(deadline_s=10))
    result = await runner.run()
    assert result.status == "stopped"
    assert result.records["a"].status == "succeeded"
    assert result.records["b"].status == "skipped"
    assert result.makespan_s == pytest.approx(10)


@pytest.mark.looptime
async def test_timeout_fails_the_task() -> None:
    graph = _graph({"a": ()})
    runner = Runner(graph, _executor({"a": 50}), run_id="r", task_timeout={"a": 5})
    result = await runner.run()
    assert result.records["a"].status == "failed"
    assert "timed out after 5s" in (result.records["a"].error or "")


@pytest.mark.looptime
async def test_resume_from_journal_runs_only_missing(tmp_path) -> None:
    path = tmp_path / "run" / "journal.sqlite"
    journal = Journal.create(path, run_id="r", workflow_name="w", spec_json="{}", inputs={})
    first = Runner(_graph(DIAMOND), _executor({}, fail={"d"}), run_id="r", journal=journal)
    result = await first.run()
    assert result.records["d"].status == "failed"
    journal.close()

    log: list[tuple[str, str, float]] = []
    journal = Journal.open(path)
    second = Runner(_graph(DIAMOND), _executor({}, log=log), run_id="r", journal=journal)
    result = await second.run()
    journal.close()
    assert result.ok
    assert [t for _, t, _ in log] == ["d"]
    assert result.records["a"].output == "a<-"


@pytest.mark.looptime
async def test_cancellation_keeps_finished_results_resumable(tmp_path) -> None:
    path = tmp_path / "run" / "journal.sqlite"
    journal = Journal.create(path, run_id="r", workflow_name="w", spec_json="{}", inputs={})
    runner = Runner(
        _graph(DIAMOND), _executor({"a": 1, "b": 1, "c": 50}), run_id="r", journal=journal
    )
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert journal.run_info().status == "interrupted"
    assert sorted(journal.completed()) == ["a", "b"]
    journal.close()


@pytest.mark.looptime
async def test_events_have_stable_names() -> None:
    runner = Runner(_graph({"a": (), "b": ("a",)}), _executor({}), run_id="r")
    await runner.run()
    names = [e.name for e in runner.events.events]
    assert names[0] == "run.started"
    assert names[-1] == "run.finished"
    for name in ("task.ready", "task.started", "task.finished"):
        assert names.count(name) == 2
