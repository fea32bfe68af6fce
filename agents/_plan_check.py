"""Is a plan runnable and within bounds? Pure checks, each problem a line the model can act on.

Order: names (agents, models) and dependencies first, then the workflow the plan becomes
(`plan_to_spec`, which re-checks everything the YAML format checks), then the caps on
the resulting `TaskGraph` and its prediction (`orchestrator.prediction.predict`).
Problems name the plan's path (`tasks[2].depends_on[0]`), the value and what to do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agents._plan_schema import Plan, PlanCaps
from agents._plan_spec import plan_to_spec
from agents.agent import Agent
from orchestrator.config_errors import ConfigError, did_you_mean, format_loc
from orchestrator.graph import TaskGraph, dependency_problems
from orchestrator.prediction import Prediction, predict
from orchestrator.spec import AgentSpec, WorkflowSpec
from policies.routing import RoutingPolicy

__all__ = ["CheckedPlan", "cap_problems", "check_plan", "name_problems"]


@dataclass(frozen=True, kw_only=True)
class CheckedPlan:
    """A plan that passed every check: its workflow, graph and prediction."""

    spec: WorkflowSpec
    graph: TaskGraph
    prediction: Prediction


def name_problems(
    plan: Plan, *, agents: Sequence[str], models: Sequence[str], max_tasks: int
) -> list[str]:
    """Unknown agents, models outside the allowlist, bad dependencies, too many tasks."""
    problems: list[str] = []
    if len(plan.tasks) > max_tasks:
        problems.append(
            f"tasks: {len(plan.tasks)} tasks, more than the cap of {max_tasks}; merge related "
            "tasks so the plan has at most that many"
        )
    for i, task in enumerate(plan.tasks):
        if task.agent is not None and task.agent not in agents:
            hint = did_you_mean(task.agent, agents)
            known = ("defined agents: " + ", ".join(agents)) if agents else "no agents are defined"
            problems.append(
                f"tasks[{i}].agent: unknown agent {task.agent!r} "
                f"({hint + '; ' if hint else ''}{known}; or null for a plain model call)"
            )
        if task.model is not None and task.model not in models:
            hint = did_you_mean(task.model, models)
            problems.append(
                f"tasks[{i}].model: model {task.model!r} is not allowed "
                f"({hint + '; ' if hint else ''}allowed: {', '.join(models)}; or null)"
            )
    for loc, message, hint in dependency_problems([(t.id, t.depends_on) for t in plan.tasks]):
        problems.append(f"{format_loc(loc)}: {message}" + (f" ({hint})" if hint else ""))
    return problems


def _depths(graph: TaskGraph) -> dict[str, int]:
    depth: dict[str, int] = {}
    for task_id in graph.order:
        depth[task_id] = 1 + max((depth[d] for d in graph.dependencies(task_id)), default=0)
    return depth


def cap_problems(
    graph: TaskGraph, prediction: Prediction, caps: PlanCaps, position: Mapping[str, int]
) -> list[str]:
    """Depth, fan-out, predicted tokens and cost over `caps`."""
    problems: list[str] = []
    depth = _depths(graph)
    deepest = max(graph.order, key=depth.__getitem__, default=None)
    if deepest is not None and depth[deepest] > caps.max_depth:
        problems.append(
            f"tasks[{position[deepest]}]: a chain of {depth[deepest]} dependent tasks ends at "
            f"{deepest!r}, more than the cap of {caps.max_depth}; let independent tasks run "
            "in parallel instead of one after another"
        )
    for task_id in graph.order:
        fan_out = len(graph.dependants(task_id))
        if fan_out > caps.max_fanout:
            problems.append(
                f"tasks[{position[task_id]}]: {fan_out} tasks depend on {task_id!r}, more than "
                f"the cap of {caps.max_fanout}; merge some of its dependants"
            )
    total = prediction.input_tokens + prediction.output_tokens
    if caps.max_total_tokens is not None and total > caps.max_total_tokens:
        problems.append(
            f"tasks: predicted {total:,} tokens in total, more than the cap of "
            f"{caps.max_total_tokens:,}; use fewer tasks or lower expected_output_tokens"
        )
    cost = prediction.cost_usd
    if caps.max_cost_usd is not None:
        if cost is None:
            problems.append(
                "tasks: the cost cannot be predicted (a model has no known price) but "
                f"max_cost_usd is {caps.max_cost_usd:.2f}; use models with known prices"
            )
        elif cost > caps.max_cost_usd:
            problems.append(
                f"tasks: predicted cost ${cost:.4f}, more than the cap of "
                f"${caps.max_cost_usd:.4f}; use fewer or smaller tasks, or cheaper models"
            )
    return problems


def check_plan(
    plan: Plan,
    *,
    goal: str,
    agents: Mapping[str, Agent | AgentSpec],
    models: Sequence[str],
    caps: PlanCaps,
    model: str,
    routing: RoutingPolicy | None,
    worker_model: str | None = None,
    name: str = "plan",
) -> CheckedPlan | list[str]:
    """The checked plan, or every problem found (in the order the checks run)."""
    problems = name_problems(plan, agents=list(agents), models=models, max_tasks=caps.max_tasks)
    if problems:
        return problems
    try:
        spec = plan_to_spec(
            plan,
            name=name,
            goal=goal,
            agents=agents,
            model=model,
            worker_model=worker_model,
            routing=routing,
            max_total_tokens=caps.max_total_tokens,
            max_cost_usd=caps.max_cost_usd,
            strict_tools=False,
        )
        graph = TaskGraph.from_spec(spec)
    except ConfigError as exc:
        return [f"{i.path}: {i.message}" + (f" ({i.hint})" if i.hint else "") for i in exc.issues]
    outside = sorted({n.model for n in graph if n.model is not None and n.model not in models})
    if outside:
        # Agents' own models are the user's choice; anything else must be allowlisted.
        routed = [m for m in outside if m not in _agent_models(agents)]
        if routed:
            return [f"tasks: model(s) {', '.join(routed)} are not in the allowlist"]
    prediction = predict(graph)
    position = {t.id: i for i, t in enumerate(plan.tasks)}
    problems = cap_problems(graph, prediction, caps, position)
    if problems:
        return problems
    return CheckedPlan(spec=spec, graph=graph, prediction=prediction)


def _agent_models(agents: Mapping[str, Agent | AgentSpec]) -> set[str]:
    return {a.model for a in agents.values() if a.model is not None}
