"""The makespan lower bound of a DAG under rate limits (BENCHMARKS.md, "The yardstick").

For nodes v with ITPM-counted input i_v, actual output o_v and latency L_v:

- bl(v) = L_v + max over successors s of bl(s)  (the longest path from v to the end);
  tail(v) = bl(v) - L_v.
- LB_cp = max_v bl(v).
- A bucket charged at admission (requests; input tokens; output tokens in legacy mode),
  capacity C, refill r, demand d(v): every node with bl(v) >= theta must be admitted by
  T - theta and the bucket supplies at most C + r*t by time t, so
  LB_k = max over theta in {bl(v)} of theta + max(0, sum_{bl(v) >= theta} d(v) - C) / r.
- Output tokens in current ("actual") mode, throttle or error on exhaustion: a node's
  output exists by its finish, so the same formula over theta in {tail(v)} with d = o_v.
- Current mode with debt on exhaustion: no output bound holds (reported as None).

LB = max(LB_cp, LB_req, LB_in, LB_out), in O(n log n) (a topological pass and one sort).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from orchestrator.limits import BucketKind, ModelLimits

__all__ = [
    "LOWER_BOUND_MODES",
    "DagNode",
    "LowerBound",
    "LowerBoundMode",
    "bottom_levels",
    "bucket_bound",
    "lower_bound",
    "node_latency",
]

LowerBoundMode = Literal["legacy", "actual-throttle", "actual-error", "actual-debt"]
LOWER_BOUND_MODES: tuple[LowerBoundMode, ...] = (
    "legacy",
    "actual-throttle",
    "actual-error",
    "actual-debt",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class DagNode:
    """One node of the DAG as the bound sees it: tokens, latency and successors' ids."""

    id: str
    input_tokens: float
    output_tokens: float
    latency: float
    successors: tuple[str, ...] = ()


def node_latency(
    *, input_tokens: float, output_tokens: float, ttft: float, per_output: float, per_input: float
) -> float:
    """L_v = a + b*o_v + c*i_v (time to first token, seconds per output / input token)."""
    return ttft + per_output * output_tokens + per_input * input_tokens


@dataclass(frozen=True, kw_only=True, slots=True)
class LowerBound:
    """The bound and its components (seconds); `binding` names the largest component."""

    value: float
    critical_path: float
    requests: float
    input: float
    output: float | None
    binding: Literal["critical_path", "requests", "input", "output"]
    mode: LowerBoundMode

    def ratio(self, makespan: float) -> float:
        """makespan / LB (1.00 is perfect)."""
        return makespan / self.value if self.value > 0 else float("inf")


def bottom_levels(nodes: Sequence[DagNode]) -> dict[str, float]:
    """bl(v) for every node; raises ValueError on unknown successors or a cycle."""
    by_id: dict[str, DagNode] = {}
    for node in nodes:
        if node.id in by_id:
            raise ValueError(f"duplicate node id {node.id!r}")
        if node.latency < 0:
            raise ValueError(f"node {node.id!r}: latency must be >= 0, got {node.latency}")
        by_id[node.id] = node
    pending = {node.id: len(node.successors) for node in nodes}
    predecessors: dict[str, list[str]] = {node.id: [] for node in nodes}
    for node in nodes:
        for succ in node.successors:
            if succ not in by_id:
                raise ValueError(f"node {node.id!r} has unknown successor {succ!r}")
            predecessors[succ].append(node.id)
    # Kahn's algorithm from the sinks backwards: a node is done once all successors are.
    ready = [node_id for node_id, count in pending.items() if count == 0]
    level: dict[str, float] = {}
    while ready:
        node_id = ready.pop()
        node = by_id[node_id]
        level[node_id] = node.latency + max((level[s] for s in node.successors), default=0.0)
        for pred in predecessors[node_id]:
            pending[pred] -= 1
            if pending[pred] == 0:
                ready.append(pred)
    if len(level) != len(by_id):
        stuck = sorted(node_id for node_id in by_id if node_id not in level)
        raise ValueError(f"the DAG has a cycle through {', '.join(map(repr, stuck[:5]))}")
    return level


def bucket_bound(
    keys: Sequence[float], demands: Sequence[float], capacity: float, rate: float
) -> float:
    """max over theta in keys of theta + max(0, sum_{key >= theta} demand - capacity) / rate."""
    if capacity <= 0 or rate <= 0:
        raise ValueError(f"capacity and rate must be > 0, got {capacity} and {rate}")
    order = sorted(range(len(keys)), key=lambda i: keys[i], reverse=True)
    best = 0.0
    total = 0.0
    i = 0
    while i < len(order):
        theta = keys[order[i]]
        # Every node with key >= theta counts, so take ties together.
        while i < len(order) and keys[order[i]] == theta:
            total += demands[order[i]]
            i += 1
        best = max(best, theta + max(0.0, total - capacity) / rate)
    return best


def lower_bound(
    nodes: Iterable[DagNode], limits: ModelLimits, *, mode: LowerBoundMode = "legacy"
) -> LowerBound:
    """The makespan lower bound of the DAG under one model class's `limits`."""
    if mode not in LOWER_BOUND_MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(LOWER_BOUND_MODES)}")
    node_list = list(nodes)
    levels = bottom_levels(node_list)
    bl = [levels[node.id] for node in node_list]
    cp = max(bl, default=0.0)

    def supply(kind: BucketKind) -> tuple[float, float]:
        return limits.capacity(kind), limits.rate(kind)

    requests = bucket_bound(bl, [1.0] * len(node_list), *supply(BucketKind.REQUESTS))
    inputs = bucket_bound(bl, [n.input_tokens for n in node_list], *supply(BucketKind.INPUT))
    outputs_demand = [n.output_tokens for n in node_list]
    output: float | None
    if mode == "legacy":
        output = bucket_bound(bl, outputs_demand, *supply(BucketKind.OUTPUT))
    elif mode == "actual-debt":
        output = None
    else:
        tails = [b - node.latency for b, node in zip(bl, node_list, strict=True)]
        output = bucket_bound(tails, outputs_demand, *supply(BucketKind.OUTPUT))
    parts: dict[Literal["critical_path", "requests", "input", "output"], float] = {
        "critical_path": cp,
        "requests": requests,
        "input": inputs,
    }
    if output is not None:
        parts["output"] = output
    binding = max(parts, key=lambda name: parts[name])
    return LowerBound(
        value=parts[binding],
        critical_path=cp,
        requests=requests,
        input=inputs,
        output=output,
        binding=binding,
        mode=mode,
    )
