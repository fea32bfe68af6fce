"""Dynamic fan-out: the sub-DAG a `kind: plan` task expands into while the run is going.

A plan task is called twice by the runner. Its first call returns a `TaskOutput` whose
`expansion` holds the planned tasks as an `Expansion` (ids namespaced `<plan_id>.<id>`).
The runner journals it (`Journal.record_expansion`) before any child starts, then runs
the children like any other task: same executor, budget, caps and journal. The plan
task's dependants keep waiting on the plan task itself, which is called a second time
(`TaskContext.expanded` set to the sub-DAG's sinks) once every sink has finished; its
output is then the children's results, or a merge of them.

A resumed run never asks the planner again: the executor rebuilds the `Expansion` from
the journaled record (`replayed=True`), and children that finished before the crash are
not run again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.usage import Usage
from orchestrator.graph import DEFAULT_MAX_TOKENS, GraphCaps, TaskGraph, TaskNode

__all__ = [
    "EXPANSION_VERSION",
    "Expansion",
    "ExpansionError",
    "PlannedChild",
    "child_id",
    "expansion_from_record",
    "expansion_record",
]

EXPANSION_VERSION = 1
_CHARS_PER_TOKEN = 4


class ExpansionError(ValueError):
    """A recorded or planned expansion that cannot join the graph (what is wrong, where)."""


def child_id(plan_id: str, local_id: str) -> str:
    """The run-wide id of task `local_id` of the plan made by `plan_id`."""
    return f"{plan_id}.{local_id}"


@dataclass(frozen=True, kw_only=True, slots=True)
class PlannedChild:
    """One task of an expansion, as planned (ids local to the plan)."""

    id: str
    instructions: str
    depends_on: tuple[str, ...] = ()
    agent: str | None = None
    model: str | None = None
    expected_output_tokens: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The child as plain data, for the journal."""
        return {
            "id": self.id,
            "instructions": self.instructions,
            "depends_on": list(self.depends_on),
            "agent": self.agent,
            "model": self.model,
            "expected_output_tokens": self.expected_output_tokens,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlannedChild:
        """The child read back from the journal."""
        return cls(
            id=str(data["id"]),
            instructions=str(data.get("instructions", "")),
            depends_on=tuple(str(d) for d in data.get("depends_on") or ()),
            agent=data.get("agent"),
            model=data.get("model"),
            expected_output_tokens=data.get("expected_output_tokens"),
        )


@dataclass(frozen=True, kw_only=True)
class Expansion:
    """The children of plan task `plan_id`: a validated graph, namespaced ids, the record.

    `usage` and `cost_usd` are what planning spent; when `replayed`, that was spent (and
    counted against the caps) by the process that planned.
    """

    plan_id: str
    children: tuple[PlannedChild, ...]
    graph: TaskGraph
    record: Mapping[str, Any]
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    replayed: bool = False

    @property
    def sinks(self) -> tuple[str, ...]:
        """Children nothing else in the expansion depends on (namespaced ids)."""
        return self.graph.leaves

    def child(self, task_id: str) -> PlannedChild:
        """The planned child behind namespaced id `task_id`."""
        local = task_id.removeprefix(self.plan_id + ".")
        for child in self.children:
            if child.id == local:
                return child
        raise KeyError(f"task {task_id!r} is not part of the expansion of {self.plan_id!r}")


def expansion_record(
    plan_id: str,
    goal: str,
    children: Sequence[PlannedChild],
    *,
    usage: Usage | None = None,
    cost_usd: float = 0.0,
) -> dict[str, Any]:
    """What the journal keeps of an expansion: enough to rebuild it without the planner."""
    return {
        "version": EXPANSION_VERSION,
        "plan_id": plan_id,
        "goal": goal,
        "tasks": [child.to_json() for child in children],
        "usage": (usage or Usage()).to_api(),
        "cost_usd": cost_usd,
    }


def expansion_from_record(
    record: Mapping[str, Any],
    *,
    default_model: str | None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    expected_output_tokens: int = 1024,
    replayed: bool = False,
    caps: GraphCaps | None = None,
    agent_max_tokens: Mapping[str, int] | None = None,
) -> Expansion:
    """Build the `Expansion` an `expansion_record` describes.

    A child's `max_tokens` is its agent's (`agent_max_tokens`), else `max_tokens`; its
    expected output is the planned one (else `expected_output_tokens`), within that.

    `ExpansionError` for a record of another version or a sub-DAG that does not hold
    together (unknown dependencies, cycles, caps).
    """
    if record.get("version") != EXPANSION_VERSION:
        raise ExpansionError(
            f"expansion record version {record.get('version')!r} is not supported "
            f"(this dagwright writes version {EXPANSION_VERSION}); start a new run"
        )
    plan_id = str(record["plan_id"])
    children = tuple(PlannedChild.from_json(t) for t in record.get("tasks") or ())
    if not children:
        raise ExpansionError(f"plan task {plan_id!r} expanded into no tasks")
    nodes = []
    limits = agent_max_tokens or {}
    for child in children:
        cap = limits.get(child.agent or "") or max_tokens
        expected = min(child.expected_output_tokens or expected_output_tokens, cap)
        nodes.append(
            TaskNode(
                id=child_id(plan_id, child.id),
                depends_on=tuple(child_id(plan_id, d) for d in child.depends_on),
                prompt=child.instructions,
                model=child.model or default_model,
                agent=child.agent,
                max_tokens=cap,
                expected_output_tokens=expected,
                input_tokens=len(child.instructions) // _CHARS_PER_TOKEN
                + sum(
                    c.expected_output_tokens or expected_output_tokens
                    for c in children
                    if c.id in child.depends_on
                ),
            )
        )
    try:
        graph = TaskGraph(nodes, caps=caps)
    except Exception as exc:  # ConfigError: the planned sub-DAG does not hold together
        raise ExpansionError(f"the plan of task {plan_id!r} is not a valid graph: {exc}") from None
    usage = Usage.from_api(record.get("usage") or {})
    return Expansion(
        plan_id=plan_id,
        children=children,
        graph=graph,
        record=dict(record),
        usage=usage,
        cost_usd=float(record.get("cost_usd") or 0.0),
        replayed=replayed,
    )
