"""dagwright: the workload as a `TaskGraph`, run by the `Runner`, every call through
`BudgetedCaller` under one `Budget` configured with the emulator's limits and mode.

The scheduler sees what a real client would: the prompt (it estimates its tokens on its
own), the declared `max_tokens`, a declared expected output when the workload has one,
and a `kind` per role (the node id without its digits: W3's `plan`, `m`, `reduce`), so
output sizes are learned across alike calls.

`declare_output=True` is a diagnostic, not a baseline: every call declares the mean real
output of its role as `expected_output_tokens`, what a user who knows typical sizes
would write. It separates the scheduler from the output predictor. `oracle=True` goes
further: every call declares its own exact output and right-sizes `max_tokens` to it,
which no client can know; it shows how close the scheduler comes to the lower bound
given the bound's own knowledge.
"""

from __future__ import annotations

import dataclasses
import re
import statistics
from collections import Counter
from collections.abc import Mapping

from agents.anthropic_client import AnthropicClient
from agents.client import LLMRequest
from benchmarks.env import TASK_HEADER
from benchmarks.systems.base import (
    RunContext,
    SystemOutcome,
    prime_sdk,
    system_blocks,
    wait_release,
)
from benchmarks.workloads import BenchNode
from orchestrator.budget import Budget
from orchestrator.call import BudgetedCaller, CallOptions
from orchestrator.graph import DEFAULT_EXPECTED_OUTPUT_TOKENS, GraphCaps, TaskGraph, TaskNode
from orchestrator.runner import Runner, TaskContext, TaskOutput

__all__ = ["kind_of", "run_dagwright", "task_graph"]

_DIGITS = re.compile(r"\d+")


def kind_of(workload_name: str, node: BenchNode) -> str:
    """The output-size class of a node: workload, group and id without digits."""
    return f"{workload_name}:{node.group}:{_DIGITS.sub('', node.id)}"


def task_graph(ctx: RunContext, declared: Mapping[str, int | None] | None = None) -> TaskGraph:
    """The workload as a `TaskGraph` (estimates only: what a user would declare).

    `declared` overrides the nodes' declared expected outputs (the diagnostics' sizes).
    """
    sizes = declared if declared is not None else {}
    nodes = [
        TaskNode(
            id=node.id,
            depends_on=node.deps,
            model=node.model,
            priority=node.priority,
            max_tokens=node.max_tokens,
            expected_output_tokens=_declared_or_default(
                sizes.get(node.id, node.expected_output_tokens), node.max_tokens
            ),
            input_tokens=node.input_tokens,
        )
        for node in ctx.workload.nodes
    ]
    return TaskGraph(nodes, caps=GraphCaps(max_nodes=max(10_000, len(nodes))))


def _declared_or_default(declared: int | None, max_tokens: int) -> int:
    if declared is not None:
        return declared
    return min(max_tokens, DEFAULT_EXPECTED_OUTPUT_TOKENS)


async def run_dagwright(
    ctx: RunContext,
    *,
    policy: str,
    declare_output: bool = False,
    warm_first: bool = True,
    oracle: bool = False,
) -> SystemOutcome:
    """Run the workload with split policy `policy` (`warm_first=False`: no warm-first gate).

    `declare_output`: each node declares its role's mean output. `oracle`: each node
    declares its own exact output and sends `max_tokens` one above it (so a complete
    answer is not reported as cut short): no real client knows this, it shows what the
    scheduler makes of the sizes the lower bound is computed with.
    """
    workload = ctx.workload
    nodes = {node.id: node for node in workload.nodes}
    kinds = {node.id: kind_of(workload.name, node) for node in workload.nodes}
    declared = {node.id: node.expected_output_tokens for node in workload.nodes}
    if declare_output:
        by_kind: dict[str, list[int]] = {}
        for node in workload.nodes:
            by_kind.setdefault(kinds[node.id], []).append(node.output_tokens)
        means = {kind: round(statistics.fmean(v)) for kind, v in by_kind.items()}
        declared = {node_id: means[kind] for node_id, kind in kinds.items()}
    if oracle:
        declared = {node.id: node.output_tokens for node in workload.nodes}
    budget = Budget(ctx.setup.client_limits, mode=ctx.setup.mode, policy=policy)
    client = AnthropicClient(http_client=ctx.http_client())
    prime_sdk(client.sdk)
    caller = BudgetedCaller(client, budget, seed=ctx.seed, cache_warm_first=warm_first)
    lease_unused = 0

    async def execute(task: TaskContext) -> TaskOutput:
        nonlocal lease_unused
        node = nodes[task.task_id]
        await wait_release(ctx, node)
        request = LLMRequest(
            model=node.model,
            messages=[{"role": "user", "content": ctx.prompts[node.id]}],
            system=system_blocks(node),
            max_tokens=min(node.max_tokens, node.output_tokens + 1) if oracle else node.max_tokens,
            metadata={"emulator_output_tokens": node.output_tokens},
            extra_headers={TASK_HEADER: node.id},
        )
        outcome = await caller.call(
            request,
            CallOptions(
                task_id=node.id,
                kind=kinds[node.id],
                expected_output_tokens=declared[node.id],
                priority=node.priority,
                tail=task.tail,
                group=node.group,
            ),
        )
        usage = outcome.response.usage
        lease_unused += max(0, outcome.max_tokens_sent - usage.output_tokens)
        ctx.trace.mark(node.id, "done")
        return TaskOutput(
            output="",
            usage=usage,
            attempts=outcome.attempts,
            model=node.model,
            waited_s=outcome.waited_s,
        )

    runner = Runner(
        task_graph(ctx, declared if declare_output or oracle else None),
        execute,
        run_id=f"bench-{workload.name}-{ctx.seed}",
        on_failure="continue",
    )
    try:
        result = await runner.run()
    finally:
        await client.aclose()
    lost = frozenset(t for t, r in result.records.items() if r.status != "succeeded")
    for task_id in sorted(lost):
        ctx.trace.mark(task_id, f"lost {result.records[task_id].error or ''}"[:80])
    stats = budget.statistics()
    buckets: dict[str, dict[str, float]] = {}
    for cls_stats in stats.values():
        for bucket in (cls_stats.requests, cls_stats.input_tokens, cls_stats.output_tokens):
            if bucket is not None:
                buckets[bucket.kind.value] = {
                    "granted": round(bucket.granted),
                    "refunded": round(bucket.refunded),
                    "pulled_down": round(bucket.pulled_down),
                    "debt_charged": round(bucket.debt_charged),
                    "capacity": bucket.capacity,
                }
    return SystemOutcome(
        lost=lost,
        notes={
            "policy": policy,
            "declared_output": "exact" if oracle else declare_output,
            "calls": caller.calls,
            "caller_errors": dict(Counter({k.value: n for k, n in caller.errors.items()})),
            "budget_rate_limited": stats.rate_limited,
            "lease_unused_tokens": lease_unused,
            "runner_makespan_s": result.makespan_s,
            "budget_buckets": buckets,
            "warm_first": (
                dataclasses.asdict(caller.cache_gate.statistics()) if caller.cache_gate else None
            ),
        },
    )
