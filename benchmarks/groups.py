"""Per-group figures of one run (W5's chain and bulk) and 429 episodes (W8).

A group's makespan runs from its earliest `release_at` to its last node's `done` mark;
its lower bound is that release time plus the bound of the group's nodes alone (their
edges inside the group kept), a valid bound since none of them can start earlier.

A 429 episode is a maximal run of 429 responses with no gap longer than
`EPISODE_GAP_S` between consecutive ones: one discovery (or one outage) of a limit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from agents.usage import Usage
from benchmarks.bound import realised_bound
from benchmarks.trace import Trace
from benchmarks.workloads import Workload
from orchestrator.emulator import LatencyModel
from orchestrator.limits import ModelLimits
from orchestrator.lowerbound import LowerBoundMode

__all__ = ["EPISODE_GAP_S", "episodes", "group_metrics", "only_group"]

EPISODE_GAP_S = 5.0


def only_group(workload: Workload, group: str, *, release: bool = True) -> Workload:
    """The nodes of `group` alone (edges leaving the group dropped); `release=False`
    moves them all to t = 0 (the "alone" run of W5's chain)."""
    members = {node.id for node in workload.nodes if node.group == group}
    if not members:
        raise ValueError(f"workload {workload.name} has no node in group {group!r}")
    nodes = tuple(
        dataclasses.replace(
            node,
            deps=tuple(d for d in node.deps if d in members),
            release_at=node.release_at if release else 0.0,
        )
        for node in workload.nodes
        if node.id in members
    )
    return dataclasses.replace(workload, nodes=nodes, extra={})


def group_metrics(
    workload: Workload,
    trace: Trace,
    usage: Mapping[str, Usage],
    *,
    started_at: float,
    latency: LatencyModel,
    limits: ModelLimits,
    mode: LowerBoundMode,
) -> dict[str, dict[str, Any]]:
    """{group: makespan_s, lower_bound_s, ratio, done} for a workload of several groups."""
    groups = list(dict.fromkeys(node.group for node in workload.nodes))
    if len(groups) < 2:
        return {}
    done_at = {task: at - started_at for at, task, event in trace.events if event == "done"}
    out: dict[str, dict[str, Any]] = {}
    for group in groups:
        sub = only_group(workload, group)
        release = min(node.release_at for node in sub.nodes)
        finished = [done_at[n.id] for n in sub.nodes if n.id in done_at]
        bound = (
            release + realised_bound(sub, usage, latency=latency, limits=limits, mode=mode).value
        )
        makespan = (max(finished) - release) if finished else None
        out[group] = {
            "nodes": len(sub.nodes),
            "done": len(finished),
            "release_s": release,
            "makespan_s": None if makespan is None else round(makespan, 6),
            "finished_at_s": None if not finished else round(max(finished), 6),
            "lower_bound_s": round(bound, 6),
            "ratio": None if not finished else round(max(finished) / bound, 6),
        }
    return out


def episodes(trace: Trace, gap_s: float = EPISODE_GAP_S) -> int:
    """The number of 429 episodes in the trace (see the module docstring)."""
    times = sorted(at for at, _task, event in trace.events if event == "http 429")
    count = 0
    last: float | None = None
    for at in times:
        if last is None or at - last > gap_s:
            count += 1
        last = at
    return count
