"""Predict a workflow's makespan, tokens and cost before running it: `simulate`.

A simulation is a real run: `launch` with its budget, caller, executor and runner, against
the in-process emulator enforcing the scenario's limits, on an event loop in virtual time
(`looptime`: the clock jumps to the next timer whenever nothing is ready, so hours of
rate-limited traffic take seconds). Only the model is assumed: how much each task answers
(`OutputSizes`, told to the emulator per request) and how fast (the emulator's latency
model: time to first token, prefill per input token, output tokens per second, jitter),
both stated in the result and overridable. The result also gives the run's lower bound,
each of its terms and which limit binds, and how much of the input and output limits the
run used. `virtual=False` runs the same on the normal event loop, in real time (what the
accuracy test compares against).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.anthropic_client import AnthropicClient
from agents.usage import Usage
from orchestrator._simulate_bound import BoundTerm, BoundTerms, bound_terms, utilisation
from orchestrator._simulate_scenarios import Scenario, expand_scenarios, scenario_spec
from orchestrator._simulate_sizes import (
    DEFAULT_OUTPUT_FRACTION,
    OutputSizes,
    SizingClient,
    TaskSize,
    TaskTag,
    task_sizes,
)
from orchestrator._simulate_virtual import prime_sdk, run_virtual
from orchestrator.emulator import Emulator, EmulatorConfig, LatencyModel
from orchestrator.graph import DEFAULT_MAX_TOKENS, TaskGraph
from orchestrator.journal import TaskRecord
from orchestrator.launch import Backend, budget_limits, launch, new_run_id
from orchestrator.limits import AccountingMode, BucketKind, ModelLimits, model_class
from orchestrator.runner import RunResult
from orchestrator.spec import WorkflowSpec

__all__ = [
    "Assumptions",
    "ModelTotals",
    "OutputSizes",
    "Scenario",
    "Simulation",
    "expand_scenarios",
    "simulate",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class Assumptions:
    """What a simulation assumes about the model; None keeps the emulator's defaults.

    `ttft` (seconds to the first token), `tokens_per_second` (output speed) and `jitter`
    (each request's latency factor is uniform in [1 - jitter, 1 + jitter]) apply to every
    model class; `seed` drives the emulator's jitter and content.
    """

    sizes: OutputSizes = field(default_factory=OutputSizes)
    ttft: float | None = None
    tokens_per_second: float | None = None
    jitter: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.ttft is not None and self.ttft < 0:
            raise ValueError(f"ttft must be >= 0 seconds, got {self.ttft}")
        if self.tokens_per_second is not None and self.tokens_per_second <= 0:
            raise ValueError(f"tokens per second must be > 0, got {self.tokens_per_second}")
        if self.jitter is not None and not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter}")

    def latency_config(self) -> dict[str, Any]:
        """The emulator's `latency` section for these overrides."""
        given = {
            "ttft_s": self.ttft,
            "tokens_per_second": self.tokens_per_second,
            "jitter": self.jitter,
        }
        overrides = {k: v for k, v in given.items() if v is not None}
        return {"*": overrides} if overrides else {}


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelTotals:
    """Tokens and dollars of one model over a simulated run."""

    model: str
    tasks: int
    input_tokens: int
    cache_read_tokens: int
    output_tokens: int
    cost_usd: float


@dataclass(frozen=True, kw_only=True)
class Simulation:
    """One scenario's predicted run."""

    scenario: Scenario
    status: str
    reason: str | None
    makespan_s: float
    wall_s: float
    virtual: bool
    mode: AccountingMode
    limits: Mapping[str, ModelLimits]
    latency: Mapping[str, LatencyModel]
    sizes: Mapping[str, TaskSize]
    sizes_rule: str
    models: tuple[ModelTotals, ...]
    bound: BoundTerms
    input_utilisation: float
    output_utilisation: float
    run_dir: Path
    report: Path | None = None
    report_error: str | None = None

    @property
    def label(self) -> str:
        """The scenario's label."""
        return self.scenario.label

    @property
    def binding(self) -> BoundTerm:
        """The limit (or the dependency chain) with the largest lower-bound term."""
        return self.bound.binding

    @property
    def cost_usd(self) -> float:
        """Dollars over every model."""
        return sum(m.cost_usd for m in self.models)

    def to_json(self) -> dict[str, Any]:
        """A plain, JSON-able record of this simulation."""
        return {
            "scenario": self.label,
            "status": self.status,
            "reason": self.reason,
            "makespan_s": round(self.makespan_s, 3),
            "wall_s": round(self.wall_s, 3),
            "virtual_time": self.virtual,
            "mode": self.mode,
            "lower_bound_s": round(self.bound.value, 3),
            "lower_bound_terms_s": {k: round(v, 3) for k, v in self.bound.parts.items()},
            "binding": self.binding,
            "input_utilisation": round(self.input_utilisation, 4),
            "output_utilisation": round(self.output_utilisation, 4),
            "cost_usd": round(self.cost_usd, 6),
            "models": [
                {
                    "model": m.model,
                    "tasks": m.tasks,
                    "input_tokens": m.input_tokens,
                    "cache_read_tokens": m.cache_read_tokens,
                    "output_tokens": m.output_tokens,
                    "cost_usd": round(m.cost_usd, 6),
                }
                for m in self.models
            ],
            "limits": {
                cls: {"rpm": lim.rpm, "itpm": lim.itpm, "otpm": lim.otpm}
                for cls, lim in self.limits.items()
            },
            "assumptions": {
                "output_sizes": self.sizes_rule,
                "output_tokens": {t: s.tokens for t, s in sorted(self.sizes.items())},
                "latency": {
                    cls: {
                        "ttft_s": lat.ttft,
                        "tokens_per_second": lat.tokens_per_second,
                        "prefill_s_per_token": lat.prefill_per_token,
                        "jitter": lat.jitter,
                    }
                    for cls, lat in self.latency.items()
                },
            },
            "run_dir": str(self.run_dir),
            "report": str(self.report) if self.report is not None else None,
        }


def _declared(spec: WorkflowSpec) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for task in spec.tasks:
        agent = spec.agents.get(task.agent) if task.agent else None
        out[task.id] = task.expected_output_tokens or (
            agent.expected_output_tokens if agent else None
        )
    return out


def _models(result: RunResult) -> tuple[ModelTotals, ...]:
    records: dict[str, list[TaskRecord]] = {}
    for record in result.records.values():
        if record.model is not None:
            records.setdefault(record.model, []).append(record)
    totals = []
    for model, mine in sorted(records.items()):
        usage = sum((r.usage for r in mine), Usage())
        totals.append(
            ModelTotals(
                model=model,
                tasks=len(mine),
                input_tokens=usage.itpm_tokens,
                cache_read_tokens=usage.cache_read_input_tokens,
                output_tokens=usage.output_tokens,
                cost_usd=sum(r.cost_usd for r in mine),
            )
        )
    return tuple(totals)


def _report(run_dir: Path) -> tuple[Path | None, str | None]:
    """The run's report.html: `launch` may have written it; else `orchestrator.report`
    writes it when that module exists (it is optional here)."""
    written = run_dir / "report.html"
    if written.is_file():
        return written, None
    try:
        from orchestrator.report import write_report  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None, None
    try:
        return Path(write_report(run_dir)), None
    except Exception as exc:  # the prediction stands without its report
        return None, f"{type(exc).__name__}: {exc}"


def _utilisation(result: RunResult, limits: Mapping[str, ModelLimits], kind: BucketKind) -> float:
    """The largest share of a class's bucket the run used (classes used by no task skipped)."""
    used: dict[str, float] = {}
    for record in result.records.values():
        cls = model_class(record.model or "")
        if cls is None:
            continue
        usage = record.usage
        tokens = usage.itpm_tokens if kind is BucketKind.INPUT else usage.output_tokens
        used[cls] = used.get(cls, 0.0) + tokens
    return max(
        (utilisation(used[c], limits[c], kind, result.makespan_s) for c in used if c in limits),
        default=0.0,
    )


def simulate(
    spec: WorkflowSpec,
    *,
    inputs: Mapping[str, Any],
    out_root: Path,
    scenario: Scenario | None = None,
    assumptions: Assumptions | None = None,
    run_id: str | None = None,
    workflow_path: Path | None = None,
    workflow_text: str = "",
    policy: str | None = None,
    virtual: bool = True,
) -> Simulation:
    """Run `spec` against the emulator under `scenario` and return what happened.

    The run's folder (journal, events, outputs) is `out_root/run_id`. Raises `ConfigError`
    for a workflow that cannot run (as `launch` does).
    """
    scenario = scenario or Scenario()
    assumptions = assumptions or Assumptions()
    run_spec = scenario_spec(spec, scenario)
    graph = TaskGraph.from_spec(run_spec)
    sizes = task_sizes(graph, _declared(run_spec), assumptions.sizes)
    limits = budget_limits(run_spec) or {}
    mode: AccountingMode = run_spec.limits.accounting if run_spec.limits else "actual"
    config = EmulatorConfig.model_validate(
        {
            "seed": assumptions.seed,
            "accounting": mode,
            "limits": {
                cls: {k: v for k, v in lim.model_dump().items() if v is not None}
                for cls, lim in (run_spec.limits.classes if run_spec.limits else {}).items()
            },
            "latency": assumptions.latency_config(),
        }
    )
    default_tokens = round(DEFAULT_MAX_TOKENS * DEFAULT_OUTPUT_FRACTION)
    run_id = run_id or new_run_id(f"{spec.name}-sim")

    async def main() -> RunResult:
        emulator = Emulator(config)
        client = AnthropicClient(http_client=emulator.http_client())
        prime_sdk(client.sdk)
        backend = Backend(
            client=SizingClient(client, sizes, default_tokens=default_tokens),
            description=f"simulation on the built-in emulator (seed {config.seed})",
            offline=True,
            emulator=emulator,
        )
        try:
            return await launch(
                run_spec,
                inputs=inputs,
                backend=backend,
                out_root=out_root,
                run_id=run_id,
                workflow_path=workflow_path,
                workflow_text=workflow_text,
                policy=policy,
                seed=assumptions.seed,
                hooks=TaskTag(),
            )
        finally:
            await backend.aclose()

    started = time.perf_counter()
    result = run_virtual(main) if virtual else asyncio.run(main())
    wall = time.perf_counter() - started
    latency = {cls: config.latency_model(cls) for cls in limits}
    planned = {
        node.id: Usage(input_tokens=node.input_tokens, output_tokens=sizes[node.id].tokens)
        for node in graph
        if node.id in sizes
    }
    terms = bound_terms(
        graph, result.records, latency=latency, limits=limits, mode=mode, planned=planned
    )
    run_dir = out_root / run_id
    report, report_error = _report(run_dir)
    return Simulation(
        scenario=scenario,
        status=result.status,
        reason=result.reason,
        makespan_s=result.makespan_s,
        wall_s=wall,
        virtual=virtual,
        mode=mode,
        limits=limits,
        latency=latency,
        sizes=sizes,
        sizes_rule=assumptions.sizes.describe(),
        models=_models(result),
        bound=terms,
        input_utilisation=_utilisation(result, limits, BucketKind.INPUT),
        output_utilisation=_utilisation(result, limits, BucketKind.OUTPUT),
        run_dir=run_dir,
        report=report,
        report_error=report_error,
    )
