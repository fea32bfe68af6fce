"""Dynamic fan-out in the runner: splicing, joining, journaling, resume, caps (virtual time)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agents.usage import Usage
from orchestrator.expansion import (
    Expansion,
    ExpansionError,
    PlannedChild,
    expansion_from_record,
    expansion_record,
)
from orchestrator.graph import TaskGraph, TaskNode
from orchestrator.journal import Journal
from orchestrator.runner import RunCaps, Runner, TaskContext, TaskOutput

# src -> p (plan: a, b in parallel, then c after both) -> w
CHILDREN = (
    PlannedChild(id="a", instructions="do a"),
    PlannedChild(id="b", instructions="do b"),
    PlannedChild(id="c", instructions="combine", depends_on=("a", "b")),
)
PLAN_USAGE = Usage(input_tokens=100, output_tokens=50)


def _graph() -> TaskGraph:
    return TaskGraph(
        [
            TaskNode(id="src"),
            TaskNode(id="p", kind="plan", depends_on=("src",)),
            TaskNode(id="w", depends_on=("p",)),
        ]
    )


class FakePlanner:
    """An executor: plans `p` into CHILDREN (or replays the journal), runs the rest."""

    def __init__(self, *, durations: dict[str, float] | None = None, fail: str = "") -> None:
        self.durations = durations or {}
        self.fail = fail
        self.plans = 0
        self.started: list[str] = []
        self.seen: dict[str, dict[str, str]] = {}

    async def __call__(self, ctx: TaskContext) -> TaskOutput:
        self.started.append(ctx.task_id)
        self.seen[ctx.task_id] = {t: r.output for t, r in ctx.upstream.items()}
        await asyncio.sleep(self.durations.get(ctx.task_id, 1.0))
        if ctx.node.kind == "plan" and not ctx.expanded:
            recorded = ctx.journal.expansion(ctx.task_id) if ctx.journal else None
            if recorded is None:
                self.plans += 1
                recorded = expansion_record(
                    "p", "the goal", CHILDREN, usage=PLAN_USAGE, cost_usd=0.5
                )
            expansion = expansion_from_record(
                recorded, default_model=None, replayed=self.plans == 0
            )
            return TaskOutput(
                output="planned", usage=expansion.usage, cost_usd=0.5, expansion=expansion
            )
        if ctx.task_id == self.fail:
            raise RuntimeError(f"boom in {ctx.task_id}")
        if ctx.expanded:
            joined = " + ".join(ctx.upstream[s].output for s in ctx.expanded)
            return TaskOutput(output=f"joined[{joined}]", usage=Usage(output_tokens=1))
        deps = ",".join(sorted(ctx.node.depends_on))
        return TaskOutput(
            output=f"{ctx.task_id}<-{deps}", usage=Usage(input_tokens=10, output_tokens=5)
        )


@pytest.mark.looptime
async def test_children_run_after_the_plan_and_their_output_flows_to_its_dependants(
    tmp_path: Path,
) -> None:
    planner = FakePlanner()
    with _journal(tmp_path) as journal:
        result = await Runner(_graph(), planner, run_id="r", journal=journal).run()
        recorded = journal.expansions()
    assert result.ok, result.records
    assert result.ids("succeeded") == ["p", "p.a", "p.b", "p.c", "src", "w"]
    # src 0-1, planning 1-2, a and b in parallel 2-3, c 3-4, join 4-5, w 5-6.
    assert result.records["p.a"].started_at == result.records["p.b"].started_at == 2
    assert result.records["p.c"].started_at == 3
    assert result.makespan_s == pytest.approx(6)
    assert result.records["p.c"].output == "p.c<-p.a,p.b"
    assert result.records["p"].output == "joined[p.c<-p.a,p.b]"
    assert planner.seen["w"]["p"] == "joined[p.c<-p.a,p.b]"
    # The plan task's record carries the planning call's spend plus its join's.
    assert result.records["p"].usage.input_tokens == 100
    assert result.records["p"].usage.output_tokens == 51
    assert result.records["p"].cost_usd == pytest.approx(0.5)
    assert list(recorded) == ["p"]
    assert [t["id"] for t in recorded["p"]["tasks"]] == ["a", "b", "c"]
    assert planner.plans == 1


@pytest.mark.looptime
async def test_the_expansion_is_journaled_before_any_child_starts(tmp_path: Path) -> None:
    seen_at_start: list[bool] = []

    class Checking(FakePlanner):
        async def __call__(self, ctx: TaskContext) -> TaskOutput:
            if ctx.task_id.startswith("p."):
                assert ctx.journal is not None
                seen_at_start.append(ctx.journal.expansion("p") is not None)
            return await super().__call__(ctx)

    with _journal(tmp_path) as journal:
        result = await Runner(_graph(), Checking(), run_id="r", journal=journal).run()
    assert result.ok
    assert seen_at_start == [True, True, True]


@pytest.mark.looptime
async def test_resume_replays_the_expansion_and_reruns_only_unfinished_children(
    tmp_path: Path,
) -> None:
    first = FakePlanner(durations={"p.b": 5})
    with _journal(tmp_path) as journal:
        runner = Runner(_graph(), first, run_id="r", journal=journal)
        task = asyncio.create_task(runner.run())
        # src 0-1, planning 1-2, a 2-3; b would finish at 7: interrupt at 4.
        await asyncio.sleep(4)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        done = journal.completed()
    assert sorted(done) == ["p.a", "src"]

    second = FakePlanner()
    with Journal.open(tmp_path / "j.sqlite") as journal:
        result = await Runner(_graph(), second, run_id="r", journal=journal).run()
    assert result.ok, result.records
    assert second.plans == 0  # replayed from the journal, never planned again
    assert second.started == ["p", "p.b", "p.c", "p", "w"]
    assert result.records["p.a"] == done["p.a"]  # the child finished before is kept
    assert result.records["w"].output == "w<-p"


@pytest.mark.looptime
async def test_a_run_resumed_after_the_plan_task_finished_runs_nothing_of_it(
    tmp_path: Path,
) -> None:
    first = FakePlanner(durations={"w": 10})
    with _journal(tmp_path) as journal:
        task = asyncio.create_task(Runner(_graph(), first, run_id="r", journal=journal).run())
        await asyncio.sleep(7)  # p joined at 5; w runs until 15
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    second = FakePlanner()
    with Journal.open(tmp_path / "j.sqlite") as journal:
        result = await Runner(_graph(), second, run_id="r", journal=journal).run()
    assert result.ok
    assert second.started == ["w"]
    assert sorted(result.records) == ["p", "p.a", "p.b", "p.c", "src", "w"]


@pytest.mark.looptime
async def test_planning_spend_counts_against_the_run_caps() -> None:
    # The planning call alone (150 tokens) crosses the cap: no child is started.
    planner = FakePlanner()
    caps = RunCaps(max_total_tokens=100)
    result = await Runner(_graph(), planner, run_id="r", caps=caps).run()
    assert result.status == "stopped"
    assert "max_total_tokens 100 exceeded" in (result.reason or "")
    assert not any(t.startswith("p.") for t in planner.started)
    for task_id in ("p.a", "p.b", "p.c", "p", "w"):
        assert result.records[task_id].status == "skipped", task_id
    # Counted once, not again when the (never-run) join would have recorded it.
    assert result.records["src"].usage.output_tokens == 5


@pytest.mark.looptime
async def test_a_failed_child_skips_the_plan_task_and_its_dependants() -> None:
    planner = FakePlanner(fail="p.a")
    result = await Runner(_graph(), planner, run_id="r", on_failure="continue").run()
    assert result.status == "failed"
    assert result.records["p.a"].status == "failed"
    assert result.records["p.b"].status == "succeeded"
    for task_id in ("p.c", "p", "w"):
        record = result.records[task_id]
        assert record.status == "skipped", task_id
        assert "upstream task 'p.a' failed" in (record.error or ""), task_id


@pytest.mark.looptime
async def test_an_expansion_from_a_task_that_is_not_a_plan_task_fails_it() -> None:
    async def execute(ctx: TaskContext) -> TaskOutput:
        record = expansion_record(ctx.task_id, "g", CHILDREN)
        return TaskOutput(output="x", expansion=expansion_from_record(record, default_model=None))

    graph = TaskGraph([TaskNode(id="m")])
    result = await Runner(graph, execute, run_id="r").run()
    assert result.records["m"].status == "failed"
    assert "not an unexpanded plan task" in (result.records["m"].error or "")
    assert sorted(result.records) == ["m"]


def test_a_record_that_is_not_a_graph_is_refused() -> None:
    cyclic = [
        PlannedChild(id="a", instructions="x", depends_on=("b",)),
        PlannedChild(id="b", instructions="y", depends_on=("a",)),
    ]
    with pytest.raises(ExpansionError, match="dependency cycle"):
        expansion_from_record(expansion_record("p", "g", cyclic), default_model=None)
    with pytest.raises(ExpansionError, match="version"):
        expansion_from_record({"version": 99, "plan_id": "p"}, default_model=None)


def test_the_record_round_trips() -> None:
    record = expansion_record("p", "goal", CHILDREN, usage=PLAN_USAGE, cost_usd=0.25)
    expansion = expansion_from_record(record, default_model="claude-haiku-4-5", replayed=True)
    assert isinstance(expansion, Expansion)
    assert expansion.children == CHILDREN
    assert expansion.sinks == ("p.c",)
    assert expansion.usage == PLAN_USAGE and expansion.cost_usd == 0.25
    assert expansion.graph.nodes["p.c"].depends_on == ("p.a", "p.b")
    assert expansion.graph.nodes["p.a"].model == "claude-haiku-4-5"
    assert expansion.child("p.b").instructions == "do b"


def _journal(tmp_path: Path) -> Journal:
    return Journal.create(
        tmp_path / "j.sqlite", run_id="r", workflow_name="w", spec_json="{}", inputs={}
    )
