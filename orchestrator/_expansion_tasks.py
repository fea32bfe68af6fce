"""The executor side of dynamic fan-out: plan a `kind: plan` task, run its children, join them.

`PlanTasks` serves `WorkflowExecutor`. A plan task's first call asks the manager for a
plan of its rendered prompt (the goal) under the task's `plan:` caps and returns it as an
`Expansion` (or, on resume, the journaled one: the planner is not called again). Its
children become ordinary worker jobs. Its second call joins the sinks' results, or has
the manager synthesize them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agents.agent import Agent
from orchestrator.call import BudgetedCaller
from orchestrator.expansion import (
    Expansion,
    PlannedChild,
    child_id,
    expansion_from_record,
    expansion_record,
)
from orchestrator.graph import DEFAULT_EXPECTED_OUTPUT_TOKENS, DEFAULT_MAX_TOKENS
from orchestrator.runner import TaskContext, TaskOutput
from orchestrator.spec import PlanSettings, TaskSpec, WorkflowSpec

if TYPE_CHECKING:
    from agents.manager import Manager

__all__ = ["ChildJob", "PlanTasks"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ChildJob:
    """What the executor needs to build a child's worker job."""

    plan_task: TaskSpec
    child: PlannedChild
    prompt: str
    model: str | None


class PlanTasks:
    """The plan tasks of one workflow and the children they expanded into during this run."""

    def __init__(
        self,
        spec: WorkflowSpec,
        caller: BudgetedCaller,
        agents: Mapping[str, Agent],
        systems: Mapping[str, str] | None = None,
    ) -> None:
        self.spec = spec
        self.caller = caller
        self.agents = dict(agents)
        self.systems = dict(systems or {})
        self._plans = {t.id: t for t in spec.tasks if t.kind == "plan"}
        self._expansions: dict[str, Expansion] = {}
        self._plan_of: dict[str, str] = {}

    def is_child(self, task_id: str) -> bool:
        """True for a task an expansion of this run added."""
        return task_id in self._plan_of

    # The plan task ---------------------------------------------------------------------

    async def run(self, ctx: TaskContext, goal: str) -> TaskOutput:
        """A plan task's call: expand it (first call) or join its children (second call)."""
        task = self._plans[ctx.task_id]
        if ctx.expanded:
            return await self._join(ctx, task)
        recorded = ctx.journal.expansion(task.id) if ctx.journal is not None else None
        if recorded is not None:
            expansion = self._build(task, recorded, replayed=True)
        else:
            expansion = await self._plan(ctx, task, goal)
        self._expansions[task.id] = expansion
        for child in expansion.graph.order:
            self._plan_of[child] = task.id
        shown = ", ".join(c.id for c in expansion.children)
        return TaskOutput(
            output=f"planned {len(expansion.children)} task(s): {shown}",
            usage=expansion.usage,
            cost_usd=expansion.cost_usd,
            expansion=expansion,
            model=self._planner_model(task),
        )

    def _planner_model(self, task: TaskSpec) -> str:
        agent = self.spec.agents.get(task.agent) if task.agent else None
        return task.model or (agent.model if agent else None) or self.spec.model

    def _worker_model(self, settings: PlanSettings) -> str:
        return settings.worker_model or self.spec.model

    def _workers(self, settings: PlanSettings) -> dict[str, Agent]:
        """The agents the planner may assign, system prompts rendered as workers get them."""
        names = settings.agents if settings.agents is not None else list(self.agents)
        workers = {}
        for name in names:
            agent = self.agents.get(name)
            if agent is None:
                continue
            workers[name] = Agent(
                name,
                model=agent.model,
                system=self.systems.get(name, agent.system),
                tools=agent.tools,
                output_schema=agent.output_schema,
                max_turns=agent.max_turns,
                expected_output_tokens=agent.expected_output_tokens,
                max_tokens=agent.max_tokens,
            )
        return workers

    def _manager(self, task: TaskSpec) -> Manager:
        from agents.manager import Manager, PlanCaps

        settings = task.plan_settings
        workers = self._workers(settings)
        models = list(dict.fromkeys([self._planner_model(task), self._worker_model(settings)]))
        models += sorted({a.model for a in workers.values() if a.model} - set(models))
        caps = PlanCaps(
            max_tasks=settings.max_tasks,
            max_depth=settings.max_depth,
            max_fanout=settings.max_fanout,
            # The run's caps bound every plan made during it, too.
            max_total_tokens=_smallest(settings.max_total_tokens, self.spec.max_total_tokens),
            max_cost_usd=_smallest(settings.max_cost_usd, self.spec.max_cost_usd),
        )
        return Manager(
            self.caller,
            model=self._planner_model(task),
            agents=workers,
            models=models,
            caps=caps,
            max_repairs=settings.max_repairs,
            worker_model=settings.worker_model,
        )

    async def _plan(self, ctx: TaskContext, task: TaskSpec, goal: str) -> Expansion:
        result = await self._manager(task).plan(
            goal, context=self.spec.context_prefix(), task_id=ctx.task_id
        )
        usage, cost = result.usage, result.cost_usd
        children = [
            PlannedChild(
                id=t.id,
                instructions=t.instructions,
                depends_on=tuple(t.depends_on),
                agent=t.agent,
                model=t.model,
                expected_output_tokens=t.expected_output_tokens,
            )
            for t in result.plan.tasks
        ]
        record = expansion_record(task.id, goal, children, usage=usage, cost_usd=cost)
        return self._build(task, record, replayed=False)

    def _build(self, task: TaskSpec, record: Mapping[str, Any], *, replayed: bool) -> Expansion:
        return expansion_from_record(
            record,
            default_model=self._worker_model(task.plan_settings),
            max_tokens=task.max_tokens or DEFAULT_MAX_TOKENS,
            expected_output_tokens=task.expected_output_tokens or DEFAULT_EXPECTED_OUTPUT_TOKENS,
            replayed=replayed,
            agent_max_tokens={n: a.max_tokens for n, a in self.agents.items() if a.max_tokens},
        )

    async def _join(self, ctx: TaskContext, task: TaskSpec) -> TaskOutput:
        expansion = self._expansions[task.id]
        local = {sink: expansion.child(sink).id for sink in ctx.expanded}
        results = {local[s]: ctx.upstream[s].output for s in ctx.expanded}
        if not task.plan_settings.synthesize:
            if len(results) == 1:
                return TaskOutput(output=next(iter(results.values())), attempts=0)
            parts = [f"## {name}\n\n{text.strip()}" for name, text in results.items()]
            return TaskOutput(output="\n\n".join(parts), attempts=0)
        manager = self._manager(task)
        goal = str(expansion.record["goal"])
        text = await manager.synthesize(goal, results, task_id=ctx.task_id)
        return TaskOutput(
            output=text,
            usage=manager.usage,
            cost_usd=manager.cost_usd,
            attempts=manager.calls,
            model=self._planner_model(task),
        )

    # The children ----------------------------------------------------------------------

    def child_job(self, ctx: TaskContext) -> ChildJob:
        """What child `ctx.task_id` is asked to do, with its in-plan upstream results."""
        plan_id = self._plan_of[ctx.task_id]
        expansion = self._expansions[plan_id]
        child = expansion.child(ctx.task_id)
        settings = self._plans[plan_id].plan_settings
        agent = self.agents.get(child.agent) if child.agent else None
        model = child.model or (agent.model if agent else None) or self._worker_model(settings)
        parts = [
            child.instructions.strip(),
            f"This task is part of a plan for: {expansion.record['goal']}",
        ]
        for dep in child.depends_on:
            record = ctx.upstream.get(child_id(plan_id, dep))
            if record is not None:
                parts.append(f'<result task="{dep}">\n{record.output.strip()}\n</result>')
        return ChildJob(
            plan_task=self._plans[plan_id],
            child=child,
            prompt="\n\n".join(parts),
            model=model,
        )


def _smallest(*values: Any) -> Any:
    present: Sequence[Any] = [v for v in values if v is not None]
    return min(present) if present else None
