"""`dagwright plan "goal"` and the planning half of `dagwright run --goal`.

The manager plans the goal into a workflow; the plan and its prediction (tasks, critical
path, tokens, cost, time under the limits) are shown before anything runs. `plan` writes
the workflow (a file `dagwright run` takes unchanged); `run --goal` asks before it spends
on the run: a prompt on a terminal, else `--yes` is required.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from orchestrator._console import EXIT_FAILURE, config_errors, emit, fail, stderr_console
from orchestrator.budget import Budget
from orchestrator.call import BudgetedCaller
from orchestrator.graph import LatencyModel, TaskGraph
from orchestrator.launch import Backend, emulator_backend, new_run_id, real_backend
from orchestrator.limits import MODEL_CLASSES, TIERS, ModelLimits, model_class
from orchestrator.lowerbound import DagNode, lower_bound
from orchestrator.prediction import predict
from orchestrator.spec import DEFAULT_MODEL, LimitsSpec, WorkflowSpec
from policies.retry import RetryPolicy

__all__ = ["plan_command", "register", "workflow_from_goal"]

_GOAL_WORDS = 4


def _name(goal: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", goal.lower())[:_GOAL_WORDS]
    return "-".join(["plan", *words]) if words else "plan"


def _limits_spec(tier: str | None) -> LimitsSpec | None:
    if tier is None:
        return None
    if tier not in TIERS:
        from orchestrator.config_errors import did_you_mean

        fail(f"unknown tier {tier!r}", did_you_mean(tier, TIERS) or ", ".join(TIERS))
    return LimitsSpec(tier=tier)


def _class_limits(limits: LimitsSpec | None) -> dict[str, ModelLimits] | None:
    if limits is None:
        return None
    found = {name: limits.for_class(name) for name, _ in MODEL_CLASSES}
    return {name: value for name, value in found.items() if value is not None} or None


def predicted_time(graph: TaskGraph, spec: WorkflowSpec, *, offline: bool) -> str:
    """The makespan lower bound under the workflow's limits (offline: the emulator's)."""
    path = graph.critical_path()
    if spec.limits is not None:
        label = f"{spec.limits.tier} limits" if spec.limits.tier else "the workflow's limits"
        limits = _class_limits(spec.limits) or {}
    elif offline:
        label = "the emulator's tier2 limits"
        limits = {name: TIERS["tier2"] for name, _ in MODEL_CLASSES}
    else:
        return f"~{path.duration:.1f} s on the critical path (limits are learned at run time)"
    durations = graph.durations(LatencyModel())
    classes = {t: model_class(graph.nodes[t].model or "") for t in graph.order}
    bound = path.duration
    for name in {c for c in classes.values() if c is not None and c in limits}:
        nodes = [
            DagNode(
                id=t,
                input_tokens=graph.nodes[t].input_tokens if classes[t] == name else 0,
                output_tokens=graph.nodes[t].expected_output_tokens if classes[t] == name else 0,
                latency=durations[t],
                successors=tuple(sorted(graph.dependants(t))),
            )
            for t in graph.order
        ]
        bound = max(bound, lower_bound(nodes, limits[name]).value)
    return f"at least ~{bound:.1f} s under {label}"


def _backend(limits: LimitsSpec | None, base_url: str | None, seed: int, quiet: bool) -> Backend:
    """The same choice as `run`: the API with a key or `--base-url`, else the emulator."""
    if base_url is not None or os.environ.get("ANTHROPIC_API_KEY"):
        try:
            return real_backend(base_url)
        except ValueError as exc:
            fail(str(exc), "set ANTHROPIC_API_KEY, or drop --base-url to use the emulator")
    data: dict[str, Any] = {"name": "planning", "tasks": [{"id": "plan", "prompt": "plan"}]}
    if limits is not None:
        data["limits"] = limits.model_dump()
    backend = emulator_backend(WorkflowSpec.from_data(data), seed=seed)
    if not quiet:
        stderr_console().print(
            "note: ANTHROPIC_API_KEY is not set: planning on the built-in emulator (offline; "
            "plans are derived from the goal's text).",
            highlight=False,
        )
    return backend


def make_plan(
    goal: str,
    *,
    model: str,
    worker_model: str | None,
    max_tasks: int,
    max_depth: int,
    tier: str | None,
    max_cost_usd: float | None,
    base_url: str | None,
    seed: int,
    quiet: bool,
) -> WorkflowSpec:
    """Plan `goal` with the manager; the plan as a validated workflow (exit 1 on failure)."""
    from agents.manager import Manager, PlanCaps, PlanError, plan_to_spec

    if not goal.strip():
        fail("the goal is empty", 'say what the plan should achieve: dagwright plan "..."')
    limits = _limits_spec(tier)
    backend = _backend(limits, base_url, seed, quiet)
    models = list(dict.fromkeys([model, worker_model or model]))
    try:
        caps = PlanCaps(max_tasks=max_tasks, max_depth=max_depth, max_cost_usd=max_cost_usd)
    except ValueError as exc:
        fail(str(exc), "pass --max-tasks and --max-depth of at least 1")

    async def plan() -> Any:
        try:
            budget = Budget(_class_limits(limits), policy="critical_path")
            caller = BudgetedCaller(backend.client, budget, retry=RetryPolicy(), seed=seed)
            manager = Manager(
                caller, model=model, models=models, caps=caps, worker_model=worker_model
            )
            return await manager.plan(goal, task_id="plan")
        finally:
            await backend.aclose()

    try:
        result = asyncio.run(plan())
    except PlanError as exc:
        fail(str(exc), code=EXIT_FAILURE)
    except ValueError as exc:
        fail(str(exc))
    with config_errors():
        return plan_to_spec(
            result.plan,
            name=_name(goal),
            goal=goal,
            model=model,
            worker_model=worker_model,
            limits=limits,
            max_cost_usd=max_cost_usd,
        )


class _Dumper(yaml.SafeDumper):
    """Safe YAML without anchors (dagwright refuses them); prompts as `|` blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def to_yaml(spec: WorkflowSpec, goal: str) -> str:
    """The workflow as YAML that `dagwright run` accepts unchanged."""
    data = spec.model_dump(mode="json", exclude_defaults=True)
    data.setdefault("name", spec.name)

    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=88)
    first = " ".join(goal.split())
    first = first if len(first) <= 80 else first[:77] + "..."
    return f"# Planned by `dagwright plan` for the goal: {first}\n{body}"


def show_plan(spec: WorkflowSpec, *, offline: bool) -> None:
    """The plan as a table, then its prediction, on stderr."""
    graph = TaskGraph.from_spec(spec)
    prediction = predict(graph)
    console = stderr_console()
    table = Table(title=f"plan {spec.name!r}: {len(graph)} task(s)", title_justify="left")
    for column in ("task", "agent", "model", "depends on", "~output tokens"):
        right = column.startswith("~")
        table.add_column(column, justify="right" if right else "left", overflow="fold")
    critical = graph.critical_path()
    for node in graph:
        marker = " *" if node.id in critical.tasks else ""
        table.add_row(
            node.id + marker,
            node.agent or "-",
            node.model or "-",
            "\n".join(node.depends_on) or "-",
            f"{node.expected_output_tokens:,}",
        )
    console.print(table)
    cost = f"${prediction.cost_usd:.4f}" if prediction.cost_usd is not None else "unknown"
    time = predicted_time(graph, spec, offline=offline)
    lines = [
        f"critical path (*): {' -> '.join(critical.tasks)} (~{critical.duration:.1f} s)",
        f"predicted tokens:  {prediction.input_tokens + prediction.output_tokens:,} "
        f"({prediction.input_tokens:,} input + {prediction.output_tokens:,} output)",
        f"predicted cost:    {cost} (before prompt caching)",
        f"predicted time:    {time}",
    ]
    for line in lines:
        console.print(line, highlight=False)


def confirm_or_exit(yes: bool, question: str) -> None:
    """Go ahead with `--yes`, after a yes at the prompt on a terminal; else exit."""
    if yes:
        return
    if not sys.stdin.isatty():
        fail("not running without confirmation", "pass --yes to run without a terminal")
    if not typer.confirm(question, default=False, err=True):
        stderr_console().print("not run.", highlight=False)
        raise typer.Exit(EXIT_FAILURE)


_Model = Annotated[
    str, typer.Option("--model", help="Model that plans (and the workflow's default).")
]
_WorkerModel = Annotated[
    str | None, typer.Option("--worker-model", help="Default model of the planned tasks.")
]
_MaxTasks = Annotated[int, typer.Option("--max-tasks", help="At most this many tasks.")]
_MaxDepth = Annotated[int, typer.Option("--max-depth", help="Longest dependency chain.")]
_Tier = Annotated[
    str | None,
    typer.Option(
        "--tier", help="Write these limits into the workflow (e.g. tier2).", metavar="TIER"
    ),
]
_MaxCost = Annotated[
    float | None, typer.Option("--max-cost", help="Cap on the plan's predicted dollars.")
]
_BaseUrl = Annotated[
    str | None,
    typer.Option("--base-url", help="Plan on this server instead of the API.", metavar="URL"),
]


def workflow_from_goal(
    goal: str | None,
    *,
    file: Path | None,
    out: Path,
    run_id: str | None,
    base_url: str | None,
    seed: int,
    yes: bool,
    quiet: bool,
) -> tuple[Path, str]:
    """For `run --goal`: plan, show, confirm, write `OUT/RUN_ID/workflow.yaml`; its path and id."""
    if goal is not None and file is not None:
        fail("give a workflow FILE or --goal, not both", "drop one of them")
    if goal is None:
        fail("no workflow given", 'pass a workflow FILE, or --goal "..." to plan one')
    if not yes and not sys.stdin.isatty():
        # Before planning: nothing is spent on a run that cannot be confirmed.
        fail(
            "run --goal shows the plan and asks before running, but there is no terminal to ask on",
            "pass --yes to run the plan without confirmation",
        )
    spec = make_plan(
        goal,
        model=DEFAULT_MODEL,
        worker_model=None,
        max_tasks=8,
        max_depth=4,
        tier=None,
        max_cost_usd=None,
        base_url=base_url,
        seed=seed,
        quiet=quiet,
    )
    offline = base_url is None and not os.environ.get("ANTHROPIC_API_KEY")
    show_plan(spec, offline=offline)
    confirm_or_exit(yes, "Run this plan?")
    run_id = run_id or new_run_id(spec.name)
    path = out / run_id / "workflow.yaml"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(to_yaml(spec, goal), encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}", code=EXIT_FAILURE)
    return path, run_id


def plan_command(
    goal: Annotated[str, typer.Argument(help="What the workflow should achieve.", metavar="GOAL")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the workflow here (default: stdout)."),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Overwrite --output if it exists.")
    ] = False,
    model: _Model = DEFAULT_MODEL,
    worker_model: _WorkerModel = None,
    max_tasks: _MaxTasks = 8,
    max_depth: _MaxDepth = 4,
    tier: _Tier = None,
    max_cost: _MaxCost = None,
    base_url: _BaseUrl = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the built-in emulator.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the workflow.")] = False,
) -> None:
    """Plan GOAL into a workflow file that `dagwright run` accepts unchanged."""
    if output is not None and str(output) != "-" and output.exists() and not yes:
        fail(f"{output} exists", "pass --yes to overwrite it, or choose another --output")
    spec = make_plan(
        goal,
        model=model,
        worker_model=worker_model,
        max_tasks=max_tasks,
        max_depth=max_depth,
        tier=tier,
        max_cost_usd=max_cost,
        base_url=base_url,
        seed=seed,
        quiet=quiet,
    )
    if not quiet:
        offline = base_url is None and not os.environ.get("ANTHROPIC_API_KEY")
        show_plan(spec, offline=offline)
    emit(to_yaml(spec, goal), output)
    if output is not None and str(output) != "-" and not quiet:
        stderr_console().print(
            f"wrote {output}; run it with: dagwright run {output}", highlight=False
        )


def register(app: typer.Typer) -> None:
    """Add `plan` to the `dagwright` CLI."""
    app.command("plan")(plan_command)
