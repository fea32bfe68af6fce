"""The lower bound of one run, from the usage the server really reported.

For each node: ITPM-counted input (input + cache writes) and output from its final
answer's `usage`; latency from the emulator's own model, with prefill over the whole
prompt as the emulator applies it, scaled by (1 - jitter): the fastest a request can be
(exact when jitter is 0, as in every workload but W8). A node that never got an answer (lost by a
baseline) counts with its planned sizes, which the emulator would have reproduced exactly.
"""

from __future__ import annotations

from collections.abc import Mapping

from agents.usage import Usage
from benchmarks.workloads import Workload
from orchestrator.emulator import LatencyModel
from orchestrator.limits import ModelLimits
from orchestrator.lowerbound import DagNode, LowerBound, LowerBoundMode, lower_bound, node_latency

__all__ = ["dag_nodes", "realised_bound"]


def dag_nodes(
    workload: Workload, usage: Mapping[str, Usage], latency: LatencyModel
) -> list[DagNode]:
    """The workload's nodes as the bound sees them, with realised sizes where known."""
    successors: dict[str, list[str]] = {node.id: [] for node in workload.nodes}
    for node in workload.nodes:
        for dep in node.deps:
            successors[dep].append(node.id)
    fastest = 1.0 - latency.jitter
    per_output = 0.0 if latency.instant else fastest / latency.tokens_per_second
    out: list[DagNode] = []
    for node in workload.nodes:
        real = usage.get(node.id)
        if real is not None:
            itpm, prompt, output = real.itpm_tokens, real.prompt_tokens, real.output_tokens
        else:
            itpm = prompt = node.input_tokens
            output = node.output_tokens
        out.append(
            DagNode(
                id=node.id,
                input_tokens=itpm,
                output_tokens=output,
                latency=node_latency(
                    input_tokens=prompt,
                    output_tokens=output,
                    ttft=latency.ttft * fastest,
                    per_output=per_output,
                    per_input=latency.prefill_per_token * fastest,
                ),
                successors=tuple(successors[node.id]),
            )
        )
    return out


def realised_bound(
    workload: Workload,
    usage: Mapping[str, Usage],
    *,
    latency: LatencyModel,
    limits: ModelLimits,
    mode: LowerBoundMode,
) -> LowerBound:
    """`lower_bound` of the workload with realised usage."""
    return lower_bound(dag_nodes(workload, usage, latency), limits, mode=mode)
