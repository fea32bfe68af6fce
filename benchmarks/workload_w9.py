"""W9 seed scenario: a manager plans, 20 high-context workers run, the manager synthesises.

On Opus under the legacy Tier-1 output limit (OTPM 8k) and under the raised one (80k):
`W9-8k` and `W9-80k`. Tier 1's other limits are kept (50 RPM) except ITPM, which Tier 1
sets at 30k: a 50k-token call could never be admitted, so it is raised to 500k and the
comparison isolates the output limit. Workers declare `max_tokens` 4096 and write
800-2,000 tokens: in legacy accounting each reservation is half the 8k output bucket.

Reported besides the usual metrics (`prediction`): the makespan `orchestrator.prediction.
predict` gives for the graph (its critical path, which ignores rate limits) and the lower
bound computed before the run from the declared sizes (`max_tokens` capped at 1,024 as
the graph's default output estimate) under the run's limits.
"""

from __future__ import annotations

import random
from typing import Any

from benchmarks.workloads import BenchNode, Workload
from orchestrator.graph import (
    DEFAULT_EXPECTED_OUTPUT_TOKENS,
    GraphCaps,
    LatencyModel,
    TaskGraph,
    TaskNode,
)
from orchestrator.limits import ModelLimits
from orchestrator.lowerbound import DagNode, LowerBoundMode, lower_bound, node_latency
from orchestrator.prediction import predict

__all__ = ["OTPM_VARIANTS", "W9_MODEL", "WORKERS", "predicted", "w9_variant"]

W9_MODEL = "claude-opus-4-8"
WORKERS = 20
WORKER_CONTEXT = 50_000
#: Workload name -> OTPM: legacy Tier 1, and the raised limit.
OTPM_VARIANTS: dict[str, int] = {"W9-8k": 8_000, "W9-80k": 80_000}
RPM = 50
ITPM = 500_000


def w9_variant(name: str) -> Any:
    """The workload factory of variant `name` (a key of `OTPM_VARIANTS`)."""
    otpm = OTPM_VARIANTS[name]

    def factory(rng: random.Random, seed: int) -> Workload:
        return _w9(rng, seed, name=name, otpm=otpm)

    return factory


def _w9(rng: random.Random, seed: int, *, name: str, otpm: int) -> Workload:
    plan = BenchNode(
        id="plan", input_tokens=6_000, output_tokens=1_200, max_tokens=4096, model=W9_MODEL
    )
    workers = [
        BenchNode(
            id=f"w{i:02d}",
            deps=("plan",),
            input_tokens=WORKER_CONTEXT,
            output_tokens=rng.randint(800, 2_000),
            max_tokens=4096,
            model=W9_MODEL,
        )
        for i in range(WORKERS)
    ]
    synth = BenchNode(
        id="synth",
        deps=tuple(w.id for w in workers),
        input_tokens=4_000 + sum(w.output_tokens for w in workers),
        output_tokens=2_500,
        max_tokens=4096,
        model=W9_MODEL,
    )
    return Workload(
        name=name,
        seed=seed,
        nodes=(plan, *workers, synth),
        tier="tier1",
        notes=f"manager + {WORKERS} x {WORKER_CONTEXT // 1000}k-context workers on Opus, "
        f"OTPM {otpm:,}",
        server={"limits": {"*": {"rpm": RPM, "itpm": ITPM, "otpm": otpm}}},
        extra={"predict": True},
    )


def predicted(
    workload: Workload,
    limits: ModelLimits,
    latency: Any,
    mode: LowerBoundMode,
) -> dict[str, float | str]:
    """What is known before the run: `predict`'s critical path (default latency model,
    no rate limits) and the lower bound from declared sizes under `limits` with the
    emulator's `latency` (an `orchestrator.emulator.LatencyModel`)."""
    nodes = [
        TaskNode(
            id=n.id,
            depends_on=n.deps,
            model=n.model,
            max_tokens=n.max_tokens,
            expected_output_tokens=min(n.max_tokens, DEFAULT_EXPECTED_OUTPUT_TOKENS),
            input_tokens=n.input_tokens,
        )
        for n in workload.nodes
    ]
    graph = TaskGraph(nodes, caps=GraphCaps())
    opus = LatencyModel(
        ttft_s=latency.ttft,
        output_tokens_per_s=latency.tokens_per_second,
        prefill_s_per_token=latency.prefill_per_token,
    )
    successors: dict[str, list[str]] = {n.id: [] for n in nodes}
    for n in nodes:
        for dep in n.depends_on:
            successors[dep].append(n.id)
    bound = lower_bound(
        [
            DagNode(
                id=n.id,
                input_tokens=n.input_tokens,
                output_tokens=n.expected_output_tokens,
                latency=node_latency(
                    input_tokens=n.input_tokens,
                    output_tokens=n.expected_output_tokens,
                    ttft=latency.ttft,
                    per_output=1.0 / latency.tokens_per_second,
                    per_input=latency.prefill_per_token,
                ),
                successors=tuple(successors[n.id]),
            )
            for n in nodes
        ],
        limits,
        mode=mode,
    )
    return {
        "predict_critical_path_s": round(predict(graph).critical_path_s, 3),
        "predict_critical_path_opus_s": round(graph.critical_path(opus).duration, 3),
        "predicted_lb_s": round(bound.value, 3),
        "predicted_binding": bound.binding,
    }
