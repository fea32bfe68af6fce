"""`steady_gc`: a run keeps the collector off its long-lived objects and restores it after."""

from __future__ import annotations

import gc

import pytest

from orchestrator._gc import YOUNG_THRESHOLD, steady_gc
from orchestrator.graph import TaskGraph, TaskNode
from orchestrator.runner import Runner, TaskContext, TaskOutput


def test_settings_are_restored_and_nesting_is_counted() -> None:
    before = gc.get_threshold()
    with steady_gc():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
        with steady_gc():  # a nested (or overlapping) run
            pass
        # the inner run's end does not undo the outer run's settings
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_settings_are_restored_when_the_body_raises() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), steady_gc():
        raise RuntimeError("boom")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_disabled_leaves_the_collector_alone() -> None:
    before = gc.get_threshold()
    with steady_gc(enabled=False):
        assert gc.get_threshold() == before and gc.get_freeze_count() == 0


async def test_a_run_freezes_while_it_runs_and_not_after() -> None:
    seen: list[int] = []

    async def execute(ctx: TaskContext) -> TaskOutput:
        seen.append(gc.get_freeze_count())
        return TaskOutput(output=ctx.task_id)

    graph = TaskGraph([TaskNode(id="a"), TaskNode(id="b", depends_on=("a",))])
    result = await Runner(graph, execute, run_id="gc").run()
    assert result.ok
    assert all(count > 0 for count in seen) and len(seen) == 2
    assert gc.get_freeze_count() == 0
    seen.clear()
    assert (await Runner(graph, execute, run_id="gc2", steady_gc=False).run()).ok
    assert seen == [0, 0]
