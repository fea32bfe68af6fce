"""The lower bound of a simulated run and which limit binds (see `orchestrator.lowerbound`).

Each model task counts with the usage the emulator really reported for it (ITPM-counted
input, output) and its latency under the emulator's latency model without jitter;
function steps take no time, and a task that did not succeed counts with its planned
sizes. Every model class has its own buckets, so the request, input and output terms are
taken per class (a class's demand is its own tasks') and the largest over classes is
reported. The critical path is shared.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from agents.usage import Usage
from orchestrator.emulator.latency import LatencyModel
from orchestrator.graph import TaskGraph
from orchestrator.journal import TaskRecord
from orchestrator.limits import AccountingMode, BucketKind, ModelLimits, model_class
from orchestrator.lowerbound import DagNode, bottom_levels, bucket_bound, node_latency

__all__ = ["BoundTerm", "BoundTerms", "bound_terms", "utilisation"]

BoundTerm = Literal["critical_path", "requests", "input", "output"]


@dataclass(frozen=True, kw_only=True, slots=True)
class BoundTerms:
    """Seconds each limit alone forces; `value` is the largest, named by `binding`."""

    critical_path: float
    requests: float
    input: float
    output: float

    @property
    def parts(self) -> dict[BoundTerm, float]:
        """The terms by name."""
        return {
            "critical_path": self.critical_path,
            "requests": self.requests,
            "input": self.input,
            "output": self.output,
        }

    @property
    def binding(self) -> BoundTerm:
        """The largest term: the limit (or the dependency chain) that decides the makespan."""
        parts = self.parts
        return max(parts, key=lambda name: parts[name])

    @property
    def value(self) -> float:
        """The lower bound: no schedule can finish sooner."""
        return max(self.parts.values())


def utilisation(used: float, limits: ModelLimits, kind: BucketKind, makespan: float) -> float:
    """used / (burst + rate * makespan): the share of what the bucket could supply."""
    supply = limits.capacity(kind) + limits.rate(kind) * makespan
    return used / supply if supply > 0 else 0.0


def _usage(record: TaskRecord | None, planned: Usage) -> Usage:
    """What the task used; a task that never got an answer counts with its planned sizes."""
    if record is None or record.status != "succeeded":
        return planned
    return record.usage


def _term(keys: list[float], demand: list[float], limits: ModelLimits, kind: BucketKind) -> float:
    return bucket_bound(keys, demand, limits.capacity(kind), limits.rate(kind))


def _seconds(usage: Usage, speed: LatencyModel | None) -> float:
    if speed is None:
        return 0.0
    per_output = 0.0 if math.isinf(speed.tokens_per_second) else 1 / speed.tokens_per_second
    return node_latency(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.output_tokens,
        ttft=speed.ttft,
        per_output=per_output,
        per_input=speed.prefill_per_token,
    )


def _edges(graph: TaskGraph, records: Mapping[str, TaskRecord]) -> dict[str, tuple[str, ...]]:
    """Successors of every task, the children of plan tasks' expansions included.

    A child (`<plan_id>.<id>`) is placed after its plan task and before the plan task's
    dependants; edges inside an expansion are left out, which only lowers the bound.
    """
    successors = {node.id: set(graph.dependants(node.id)) for node in graph}
    plans = sorted((n.id for n in graph if n.kind == "plan"), key=len, reverse=True)
    for task_id in records:
        if task_id in successors:
            continue
        parent = next((p for p in plans if task_id.startswith(f"{p}.")), None)
        successors[task_id] = set(graph.dependants(parent)) if parent is not None else set()
        if parent is not None:
            successors[parent].add(task_id)
    return {task_id: tuple(sorted(after)) for task_id, after in successors.items()}


def bound_terms(
    graph: TaskGraph,
    records: Mapping[str, TaskRecord],
    *,
    latency: Mapping[str, LatencyModel],
    limits: Mapping[str, ModelLimits],
    mode: AccountingMode,
    planned: Mapping[str, Usage],
) -> BoundTerms:
    """The bound's terms for the run's realised usage (`latency`/`limits` by model class).

    Tasks that did not succeed (the run failed or stopped) count with `planned` usage.
    """
    kinds = {node.id: node.kind for node in graph}
    models = {node.id: node.model for node in graph}
    nodes: list[DagNode] = []
    classes: dict[str, str | None] = {}
    for task_id, after in _edges(graph, records).items():
        record = records.get(task_id)
        model = (record.model if record is not None else None) or models.get(task_id) or ""
        cls = model_class(model) if kinds.get(task_id) != "step" else None
        classes[task_id] = cls
        usage = _usage(record, planned.get(task_id, Usage()))
        speed = latency.get(cls) if cls is not None else None
        nodes.append(
            DagNode(
                id=task_id,
                input_tokens=usage.itpm_tokens,
                output_tokens=usage.output_tokens,
                latency=_seconds(usage, speed),
                successors=after,
            )
        )
    levels = bottom_levels(nodes)
    bl = [levels[n.id] for n in nodes]
    # Output in actual mode is counted as generated: it must exist by the node's finish.
    out_keys = bl if mode == "legacy" else [b - n.latency for b, n in zip(bl, nodes, strict=True)]
    terms = {"requests": 0.0, "input": 0.0, "output": 0.0}
    for cls, cls_limits in limits.items():
        mine = [1.0 if classes[n.id] == cls else 0.0 for n in nodes]
        if not any(mine):
            continue

        terms["requests"] = max(terms["requests"], _term(bl, mine, cls_limits, BucketKind.REQUESTS))
        inputs = [n.input_tokens * m for n, m in zip(nodes, mine, strict=True)]
        terms["input"] = max(terms["input"], _term(bl, inputs, cls_limits, BucketKind.INPUT))
        outputs = [n.output_tokens * m for n, m in zip(nodes, mine, strict=True)]
        terms["output"] = max(
            terms["output"], _term(out_keys, outputs, cls_limits, BucketKind.OUTPUT)
        )
    return BoundTerms(critical_path=max(bl, default=0.0), **terms)
