"""CPU cost of dagwright's own machinery, in real time, with no model behind it.

- `lease_settle`: one `Budget.acquire` + `Lease.settle` that never waits (median of many).
- `admission`: the pure core's admission decision (`ModelAccount.admit`, critical-path
  heap) with n leases waiting, for several n: it should grow like log n.
- `scheduler`: CPU per node of a random layered DAG, (a) the `Runner` alone with an
  instant executor, (b) runner + `BudgetedCaller` + `Budget` + `ScriptedLLM` with limits
  that never bind, (c) the same under tier-2 limits in virtual time, so every lease
  really queues in the budget.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Iterable
from typing import Any

from agents.client import LLMRequest
from agents.scripted import ScriptedLLM
from agents.usage import Usage
from benchmarks.virtual import run_virtual
from orchestrator.budget import Budget, ModelAccount, RampConfig
from orchestrator.call import BudgetedCaller, CallOptions
from orchestrator.graph import GraphCaps, TaskGraph, TaskNode
from orchestrator.limits import TIERS, ModelLimits
from orchestrator.runner import Runner, TaskContext, TaskOutput
from policies import get_policy

__all__ = [
    "admission_cost",
    "layered_graph",
    "lease_settle_cost",
    "overhead_records",
    "scheduler_cost",
]

MODEL = "claude-sonnet-4-6"
UNBOUNDED = ModelLimits(rpm=10**9, itpm=10**12, otpm=10**12)


def _quantiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {"p50_us": statistics.median(ordered) / 1e3, "p99_us": p99 / 1e3}


def lease_settle_cost(n: int = 20_000) -> dict[str, Any]:
    """Median wall and mean CPU microseconds of one lease + settle that never waits."""

    async def main() -> dict[str, Any]:
        budget = Budget(UNBOUNDED, mode="legacy", policy="critical_path", ramp=RampConfig.off())
        usage = Usage(input_tokens=1_000, output_tokens=200)
        samples: list[int] = []
        for i in range(200):  # warm-up
            lease = await budget.acquire(f"w{i}", model=MODEL, input_tokens=1_000, max_tokens=500)
            lease.settle(usage)
        cpu = time.process_time()
        for i in range(n):
            start = time.perf_counter_ns()
            lease = await budget.acquire(
                f"t{i}", model=MODEL, input_tokens=1_000, max_tokens=500, tail=float(i % 7)
            )
            lease.settle(usage)
            samples.append(time.perf_counter_ns() - start)
        cpu_us = (time.process_time() - cpu) / n * 1e6
        return {"n": n, **_quantiles(samples), "cpu_mean_us": cpu_us}

    return asyncio.run(main())


def admission_cost(
    sizes: Iterable[int] = (1_000, 10_000, 100_000), samples: int = 5_000
) -> list[dict[str, Any]]:
    """Per-admission cost of `ModelAccount.admit` with `n` leases waiting, for each n."""
    return [_admission_row(size, samples) for size in sizes]


def _admission_row(size: int, samples: int) -> dict[str, Any]:
    """The request bucket (capacity 60, 1 per second) is drained and `size` leases with
    random tails wait; the clock then moves one second at a time, so each `admit` grants
    exactly the head, and a new lease is queued to keep `size` waiting."""
    rng = random.Random(size)
    account = ModelAccount(
        "sonnet-4",
        ModelLimits(rpm=60, itpm=10**12, otpm=10**12),
        mode="legacy",
        policy=get_policy("critical_path"),
        ramp=RampConfig.off(),
        now=0.0,
    )
    seq = 0

    def lease(now: float) -> Any:
        nonlocal seq
        seq += 1
        return account.prepare(
            task_id=f"t{seq}",
            model=MODEL,
            seq=seq,
            now=now,
            input_tokens=1_000,
            max_tokens=500,
            tail=rng.random() * 1_000,
        )

    for _ in range(60):  # drain the request bucket
        assert account.try_admit(lease(0.0), 0.0)
    for _ in range(size):
        account.enqueue(lease(0.0))
    admit_ns: list[int] = []
    enqueue_ns: list[int] = []
    now = 0.0
    for _ in range(samples):
        now += 1.0
        start = time.perf_counter_ns()
        granted = account.admit(now)
        admit_ns.append(time.perf_counter_ns() - start)
        if len(granted) != 1:
            raise RuntimeError(f"expected one admission per second, got {len(granted)}")
        account.settle(granted[0], input_tokens=1_000, output_tokens=200, now=now)
        fresh = lease(now)
        start = time.perf_counter_ns()
        account.enqueue(fresh)
        enqueue_ns.append(time.perf_counter_ns() - start)
    admit, enqueue = _quantiles(admit_ns), _quantiles(enqueue_ns)
    return {
        "waiting": size,
        "admit_p50_us": admit["p50_us"],
        "admit_p99_us": admit["p99_us"],
        "enqueue_p50_us": enqueue["p50_us"],
        "enqueue_p99_us": enqueue["p99_us"],
    }


def layered_graph(n: int, *, seed: int = 0, width: int = 500) -> TaskGraph:
    """A random layered DAG of `n` nodes: layers of `width`, each node with 0-3 parents."""
    rng = random.Random(seed)
    nodes: list[TaskNode] = []
    previous: list[str] = []
    index = 0
    while index < n:
        layer = []
        for _ in range(min(width, n - index)):
            node_id = f"n{index}"
            deps = tuple(rng.sample(previous, min(len(previous), rng.randint(0, 3))))
            nodes.append(
                TaskNode(
                    id=node_id,
                    depends_on=deps,
                    model=MODEL,
                    input_tokens=rng.randint(500, 5_000),
                    expected_output_tokens=rng.randint(50, 500),
                    max_tokens=1_000,
                )
            )
            layer.append(node_id)
            index += 1
        previous = layer
    caps = GraphCaps(max_nodes=max(n, 10_000), max_fan_out=n, max_total_tokens=None)
    return TaskGraph(nodes, caps=caps)


def _instant_executor() -> Any:
    async def execute(task: TaskContext) -> TaskOutput:
        return TaskOutput(output="")

    return execute


def _prompts(graph: TaskGraph) -> dict[int, str]:
    """One prompt per distinct input size, built before the clock starts (a client has
    its prompts already; building 20 kB strings is not scheduling), and shared, so the
    ScriptedLLM's record of calls does not hold a copy per node."""
    return {size: "x" * (4 * size) for size in {node.input_tokens for node in graph}}


def _llm_executor(caller: BudgetedCaller, prompts: dict[int, str]) -> Any:
    async def execute(task: TaskContext) -> TaskOutput:
        node = task.node
        request = LLMRequest(
            model=MODEL,
            messages=[{"role": "user", "content": prompts[node.input_tokens]}],
            max_tokens=node.max_tokens,
        )
        outcome = await caller.call(
            request,
            CallOptions(
                task_id=task.task_id,
                kind="node",
                expected_output_tokens=node.expected_output_tokens,
                tail=task.tail,
            ),
        )
        return TaskOutput(output=outcome.response.text, usage=outcome.response.usage)

    return execute


def scheduler_cost(n: int, *, queued: bool = True) -> dict[str, Any]:
    """CPU microseconds per node on an `n`-node layered DAG, three ways (see module doc).

    CPU is measured inside the event loop, around `Runner.run` only (graph construction,
    prompts and loop setup excluded). `queued=False` skips the virtual-time variant (c).
    """
    graph = layered_graph(n)
    prompts = _prompts(graph)
    reply = "ok " * 100

    async def timed(make_executor: Any) -> tuple[float, Any]:
        executor = make_executor()
        cpu = time.process_time()
        result = await Runner(graph, executor, run_id="overhead").run()
        return (time.process_time() - cpu) / n * 1e6, result

    def budgeted(limits: ModelLimits) -> Any:
        def make() -> Any:
            budget = Budget(limits, mode="legacy", policy="critical_path")
            return _llm_executor(
                BudgetedCaller(ScriptedLLM.from_function(lambda request: reply), budget),
                prompts,
            )

        return make

    row: dict[str, Any] = {"nodes": n}
    runs = [
        ("runner_only_us", lambda: asyncio.run(timed(_instant_executor))),
        ("runner_budget_scripted_us", lambda: asyncio.run(timed(budgeted(UNBOUNDED)))),
    ]
    if queued:
        runs.append(
            (
                "runner_budget_queued_us",
                lambda: run_virtual(lambda: timed(budgeted(TIERS["tier2"]))),
            )
        )
    for name, run in runs:
        per_node, result = run()
        if not result.ok:
            raise RuntimeError(f"overhead run {name} on {n} nodes failed: {result.reason}")
        row[name] = per_node
        if name == "runner_budget_queued_us":
            row["queued_virtual_makespan_s"] = result.makespan_s
    return row


def overhead_records(
    overhead: dict[str, Any], throughput: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The JSON records of the overhead figures (`workload` = "overhead").

    One per scheduler DAG size (`system` "dagwright": `cpu_us_per_node` is runner +
    budget + caller with a ScriptedLLM, `runner_only_us` the runner alone, and the
    admission decision's p50/p99 with that many leases waiting when it was measured),
    and one for the full stack per call (`system` "sdk+emulator": the anthropic SDK
    through the in-process emulator, CPU microseconds per request).
    """
    admission = {row["waiting"]: row for row in overhead.get("admission", [])}
    base: dict[str, Any] = {
        "workload": "overhead",
        "policy": None,
        "mode": "legacy",
        "seed": 0,
        "makespan_s": None,
        "lower_bound_s": None,
        "ratio": None,
        "n_429": 0,
        "out_util": None,
        "cost_usd": 0.0,
    }
    out: list[dict[str, Any]] = []
    for row in overhead.get("scheduler", []):
        record = {
            **base,
            "system": "dagwright",
            "policy": "critical_path",
            "nodes": row["nodes"],
            "cpu_us_per_node": round(row["runner_budget_scripted_us"], 3),
            "runner_only_us": round(row["runner_only_us"], 3),
        }
        if "runner_budget_queued_us" in row:
            record["queued_cpu_us_per_node"] = round(row["runner_budget_queued_us"], 3)
        decision = admission.get(row["nodes"])
        if decision is not None:
            record["admission_p50_us"] = round(decision["admit_p50_us"], 3)
            record["admission_p99_us"] = round(decision["admit_p99_us"], 3)
        out.append(record)
    for row in throughput or []:
        if "SDK" not in row["name"]:
            continue
        out.append(
            {
                **base,
                "system": "sdk+emulator",
                "nodes": row["n"],
                "cpu_us_per_node": round(1e6 / row["cpu_rps"], 3),
                "requests_per_s": round(row["rps"], 1),
            }
        )
    return out
