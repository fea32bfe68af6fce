"""The runner's view of its graph while it grows: the frozen `TaskGraph` plus spliced expansions.

Lookups stay O(1) per completion: the frozen graph answers for its own nodes, small dicts
for the children added by expansions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Set

from orchestrator.expansion import Expansion
from orchestrator.graph import TaskGraph, TaskNode
from orchestrator.journal import TaskRecord

__all__ = ["LiveGraph"]


class LiveGraph:
    """`graph` plus the expansions spliced into it (children, their edges, the joins)."""

    def __init__(self, graph: TaskGraph) -> None:
        self.graph = graph
        self._nodes: dict[str, TaskNode] = {}
        self._dependants: dict[str, tuple[str, ...]] = {}
        self._dependencies: dict[str, tuple[str, ...]] = {}
        self._plan_of: dict[str, str] = {}
        self.expansions: dict[str, Expansion] = {}

    def __len__(self) -> int:
        return len(self.graph) + len(self._nodes)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self.graph or task_id in self._nodes

    def node(self, task_id: str) -> TaskNode:
        """The node of a task of the graph or of an expansion."""
        node = self._nodes.get(task_id)
        return node if node is not None else self.graph.nodes[task_id]

    def dependants(self, task_id: str) -> tuple[str, ...] | frozenset[str]:
        """Tasks waiting on `task_id`; a sink of an expansion is waited on by its plan task."""
        if task_id in self._nodes:
            return self._dependants[task_id]
        return self.graph.dependants(task_id)

    def order(self) -> Iterator[str]:
        """Every task: the graph's in topological order, then each expansion's."""
        yield from self.graph.order
        yield from self._nodes

    def problem(self, task_id: str, expansion: Expansion) -> str | None:
        """Why `expansion`, returned by `task_id`, cannot be spliced in (None if it can)."""
        if expansion.plan_id != task_id:
            return f"task {task_id!r} returned the expansion of {expansion.plan_id!r}"
        if self.node(task_id).kind != "plan" or task_id in self.expansions:
            return f"task {task_id!r} returned an expansion, but it is not an unexpanded plan task"
        taken = [t for t in expansion.graph.order if t in self]
        if taken:
            return f"the expansion of {task_id!r} reuses task ids already in the run: {taken}"
        return None

    def splice(self, expansion: Expansion, done: Set[str]) -> dict[str, int]:
        """Add `expansion`'s children, its sinks leading to its plan task.

        Returns how many unfinished tasks (not in `done`) each child, and the plan task,
        now waits for.
        """
        plan_id = expansion.plan_id
        sinks = set(expansion.sinks)
        for task_id in expansion.graph.order:
            self._nodes[task_id] = expansion.graph.nodes[task_id]
            self._plan_of[task_id] = plan_id
            after = tuple(sorted(expansion.graph.dependants(task_id)))
            self._dependants[task_id] = (*after, plan_id) if task_id in sinks else after
            self._dependencies[task_id] = tuple(sorted(expansion.graph.dependencies(task_id)))
        self.expansions[plan_id] = expansion
        return {
            t: sum(1 for dep in self.waiting_on(t) if dep not in done)
            for t in (*expansion.graph.order, plan_id)
        }

    def waiting_on(self, task_id: str) -> tuple[str, ...]:
        """What a spliced task waits for: its dependencies, or for a plan task its sinks."""
        if task_id in self.expansions:
            return self.expansions[task_id].sinks
        return self._dependencies.get(task_id, ())

    def failed_upstream(self, task_id: str, records: Mapping[str, TaskRecord]) -> list[str]:
        """Tasks upstream of `task_id` (expansions included) whose record failed."""
        upstream: set[str] = set()
        plan_id = self._plan_of.get(task_id)
        if plan_id is not None:
            upstream |= self.expansions[plan_id].graph.ancestors(task_id)
            task_id = plan_id
            upstream |= self.graph.ancestors(task_id)
        else:
            upstream |= self.graph.ancestors(task_id)
            if task_id in self.expansions:
                upstream |= set(self.expansions[task_id].graph.nodes)
        for ancestor in list(upstream):
            if ancestor in self.expansions:
                upstream |= set(self.expansions[ancestor].graph.nodes)
        return sorted(a for a in upstream if a in records and records[a].status == "failed")
