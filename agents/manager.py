"""The manager agent: plans a goal as a bounded task graph, and synthesises the results.

```python
manager = Manager(caller, agents={"researcher": researcher}, caps=PlanCaps(max_tasks=6),
                  routing=RoleRouting(planner="claude-opus-5", worker="claude-haiku-5"),
                  models=("claude-opus-5", "claude-haiku-5"))
planned = await manager.plan("Compare the rate limits of three LLM APIs")
spec = planned.spec                     # a WorkflowSpec: run it like any workflow
answer = await manager.synthesize(goal, {"t1": "...", "t2": "..."})
```

Planning asks the model for a `Plan` through structured output: the JSON Schema of the
pydantic model, narrowed to the defined agents and the model allowlist. The answer is
checked as a workflow and a `TaskGraph` (ids, cycles, unknown dependencies, agents and
models with a did-you-mean), then against `PlanCaps` (tasks, depth, fan-out, predicted
tokens and cost). Problems go back to the model for at most `max_repairs` repairs (schema
repairs included); after that `PlanError` shows the last plan and its problems. No
worker runs before a plan passes.

Safety: the plan is the only way the graph, agents, tools and models are chosen, and it
is always checked against the manager's own caps and allowlists, which nothing in a
prompt can change. Goal, context and constraints (which may carry worker outputs) are
sent as tagged data; task prompts escape template syntax, so planned text cannot pull
in inputs or other results; no plan field names a file.

Every call (plan, repairs, synthesis) is a `BudgetedCaller` call, under the same budget
as the workers; each role's model comes from the `RoutingPolicy`, so each lands in its
own model class's buckets.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from agents._plan_check import check_plan
from agents._plan_prompt import (
    PLANNER_SYSTEM,
    SYNTHESIZER_SYSTEM,
    AgentInfo,
    plan_prompt,
    plan_repair_prompt,
    synthesis_prompt,
)
from agents._plan_reduce import approx_tokens, pack
from agents._plan_schema import (
    DEFAULT_PLAN_MODELS,
    Plan,
    PlanCaps,
    PlanError,
    PlannedTask,
    plan_schema,
)
from agents._plan_spec import plan_to_spec
from agents.agent import Agent
from agents.client import LLMClient
from agents.usage import Usage
from agents.worker import TaskFailed, Worker, WorkerJob, WorkerResult
from orchestrator.budget import Budget, RampConfig
from orchestrator.call import BudgetedCaller
from orchestrator.graph import TaskGraph
from orchestrator.limits import ModelLimits
from orchestrator.prediction import Prediction
from orchestrator.pricing import PRICES, PriceTable
from orchestrator.spec import AgentSpec, WorkflowSpec
from policies.routing import Role, RoleRouting, RoutableTask, RoutingPolicy, check_models

__all__ = [
    "DEFAULT_PLAN_MODELS",
    "Manager",
    "Plan",
    "PlanCaps",
    "PlanError",
    "PlanResult",
    "PlannedTask",
    "plan_to_spec",
]

_log = structlog.get_logger("dagwright.manager")

#: For a bare client: limits no test or script reaches (the caller still estimates).
_UNLIMITED = ModelLimits(rpm=10**9, itpm=10**12, otpm=10**12)
_MAX_LEVELS = 32


@dataclass(frozen=True, kw_only=True)
class PlanResult:
    """A plan that passed every check, the workflow and graph it makes, and its cost.

    `attempts` counts the planning calls (1 + repairs); `usage`/`cost_usd` are theirs.
    `spec` names agents' tools by import path; a tool of an `Agent` that has none (a
    local function) is left out, so run such a spec with the manager's `Agent`s
    (`launch(..., agents=...)`). `plan_to_spec` raises instead, for YAML files.
    """

    plan: Plan
    graph: TaskGraph
    spec: WorkflowSpec
    prediction: Prediction
    attempts: int
    repairs: int
    usage: Usage
    cost_usd: float


@dataclass(kw_only=True)
class _Spent:
    usage: Usage = dataclasses.field(default_factory=Usage)
    cost_usd: float = 0.0
    calls: int = 0

    def add(self, usage: Usage, cost: float, calls: int) -> None:
        self.usage += usage
        self.cost_usd += cost
        self.calls += calls


def _agent_info(name: str, agent: Agent | AgentSpec) -> AgentInfo:
    if isinstance(agent, Agent):
        tools = tuple(t.name for t in agent.tools)
    else:
        tools = tuple(path.rpartition(":")[2].rpartition(".")[2] for path in agent.tools)
    return AgentInfo(name=name, system=agent.system, tools=tools, model=agent.model)


class Manager:
    """Plans goals into bounded task graphs and merges workers' results.

    `caller_or_client` is the run's `BudgetedCaller` (calls share its budget) or a bare
    `LLMClient` (wrapped under an unlimited budget, for tests and scripts). `model` plans
    and synthesises unless `routing` is given (default: the first, strongest, of
    `models`); `worker_model` is the workers' default. Every model a plan or the routing
    may use must be in `models`.
    """

    def __init__(
        self,
        caller_or_client: BudgetedCaller | LLMClient,
        *,
        model: str | None = None,
        agents: Mapping[str, Agent | AgentSpec] | None = None,
        models: Sequence[str] = DEFAULT_PLAN_MODELS,
        caps: PlanCaps | None = None,
        max_repairs: int = 2,
        routing: RoutingPolicy | None = None,
        worker_model: str | None = None,
        plan_max_tokens: int = 8_192,
        synthesis_max_tokens: int = 4_096,
        max_input_tokens: int = 150_000,
        prices: PriceTable = PRICES,
    ) -> None:
        if isinstance(caller_or_client, BudgetedCaller):
            caller = caller_or_client
        elif isinstance(caller_or_client, LLMClient):
            caller = BudgetedCaller(caller_or_client, Budget(_UNLIMITED, ramp=RampConfig.off()))
        else:
            raise TypeError(
                "Manager needs a BudgetedCaller or an LLMClient, got "
                f"{type(caller_or_client).__name__}"
            )
        self.models = tuple(models)
        if not self.models:
            raise ValueError("the model allowlist (models) is empty; name at least one model")
        self.model = model if model is not None else self.models[0]
        for label, value in (("model", self.model), ("worker_model", worker_model)):
            if value is not None and value not in self.models:
                raise ValueError(
                    f"{label} {value!r} is not in the model allowlist ({', '.join(self.models)}); "
                    "add it to models or choose one of them"
                )
        if max_repairs < 0:
            raise ValueError(f"max_repairs must be >= 0, got {max_repairs}")
        for label, number in (
            ("plan_max_tokens", plan_max_tokens),
            ("synthesis_max_tokens", synthesis_max_tokens),
            ("max_input_tokens", max_input_tokens),
        ):
            if number < 1:
                raise ValueError(f"{label} must be >= 1, got {number}")
        self.routing: RoutingPolicy = routing or RoleRouting(
            planner=self.model, worker=worker_model or self.model, synthesizer=self.model
        )
        check_models(self.routing, self.models)
        self.agents: dict[str, Agent | AgentSpec] = dict(agents or {})
        self.caps = caps if caps is not None else PlanCaps()
        self.max_repairs = max_repairs
        self.worker_model = worker_model
        self.plan_max_tokens = plan_max_tokens
        self.synthesis_max_tokens = synthesis_max_tokens
        self.max_input_tokens = max_input_tokens
        self.caller = caller
        self.worker = Worker(caller, prices=prices)
        self._spent = _Spent()

    @property
    def usage(self) -> Usage:
        """Tokens of every call this manager made (plans, repairs, synthesis)."""
        return self._spent.usage

    @property
    def cost_usd(self) -> float:
        """Dollar cost of every call this manager made."""
        return self._spent.cost_usd

    @property
    def calls(self) -> int:
        """Model calls this manager made."""
        return self._spent.calls

    def route(self, task: RoutableTask | None, role: Role) -> str:
        """The routed model for `role`; `ValueError` if the policy leaves the allowlist."""
        model = self.routing.choose(task, role)
        if model not in self.models:
            raise ValueError(
                f"routing policy {self.routing!r} chose {model!r} for the {role}, which is "
                f"not in the model allowlist ({', '.join(self.models)})"
            )
        return model

    # -- planning ------------------------------------------------------------------------

    def _plan_job(self, goal: str, context: str, constraints: str, task_id: str) -> WorkerJob:
        infos = {name: _agent_info(name, agent) for name, agent in self.agents.items()}
        prompt = plan_prompt(
            goal,
            context=context,
            constraints=constraints,
            caps=self.caps,
            agents=infos,
            models=self.models,
        )
        schema = plan_schema(
            agents=list(self.agents), models=self.models, max_tasks=self.caps.max_tasks
        )
        return WorkerJob(
            task_id=task_id,
            prompt=prompt,
            model=self.route(None, "planner"),
            system=PLANNER_SYSTEM,
            max_tokens=self.plan_max_tokens,
            expected_output_tokens=min(self.plan_max_tokens, 200 + 150 * self.caps.max_tasks),
            output_schema=schema,
            output_model=Plan,
            repair_attempts=self.max_repairs,
            kind="dagwright.plan",
        )

    async def plan(
        self, goal: str, context: str = "", constraints: str = "", *, task_id: str = "plan"
    ) -> PlanResult:
        """A checked plan for `goal`, or `PlanError` after `max_repairs` repairs.

        `context` and `constraints` are shown to the planner as data. Caps and allowlists
        come from the manager only. `task_id` names the calls in the budget and events.
        """
        if not goal.strip():
            raise ValueError("the goal is empty; say what the plan should achieve")
        base = self._plan_job(goal, context, constraints, task_id)
        repairs_left = self.max_repairs
        transcript: list[dict[str, Any]] | None = None
        spent = _Spent()
        while True:
            job = dataclasses.replace(base, repair_attempts=repairs_left)
            try:
                result = await self.worker.run(job, transcript=transcript)
            except TaskFailed as failed:
                spent.add(failed.usage, failed.cost_usd, failed.attempts)
                self._spent.add(failed.usage, failed.cost_usd, failed.attempts)
                raise self._failed(goal, failed, spent, self.max_repairs - repairs_left) from None
            spent.add(result.usage, result.cost_usd, result.calls)
            self._spent.add(result.usage, result.cost_usd, result.calls)
            repairs_left -= result.repairs
            plan = result.data
            assert isinstance(plan, Plan)  # output_model=Plan: the worker validated it
            checked = check_plan(
                plan,
                goal=goal,
                agents=self.agents,
                models=self.models,
                caps=self.caps,
                model=self.model,
                routing=self.routing,
                worker_model=self.worker_model,
                name=task_id,
            )
            if not isinstance(checked, list):
                _log.info(
                    "manager.planned",
                    task_id=task_id,
                    tasks=len(plan.tasks),
                    calls=spent.calls,
                    repairs=self.max_repairs - repairs_left,
                )
                return PlanResult(
                    plan=plan,
                    graph=checked.graph,
                    spec=checked.spec,
                    prediction=checked.prediction,
                    attempts=spent.calls,
                    repairs=self.max_repairs - repairs_left,
                    usage=spent.usage,
                    cost_usd=spent.cost_usd,
                )
            _log.info("manager.plan_invalid", task_id=task_id, problems=checked)
            if repairs_left <= 0:
                raise PlanError(
                    goal,
                    plan=plan,
                    problems=checked,
                    attempts=spent.calls,
                    repairs=self.max_repairs,
                )
            repairs_left -= 1
            transcript = [*result.transcript, _user(plan_repair_prompt(checked))]

    def _failed(self, goal: str, failed: TaskFailed, spent: _Spent, repairs: int) -> PlanError:
        fixes = {
            "truncated": "raise the manager's plan_max_tokens or lower PlanCaps.max_tasks",
            "refused": "rephrase the goal",
        }
        return PlanError(
            goal,
            plan=failed.last_output,
            problems=[failed.reason],
            attempts=spent.calls,
            repairs=repairs if failed.code != "invalid_output" else self.max_repairs,
            fix=fixes.get(failed.code),
        )

    # -- synthesis -----------------------------------------------------------------------

    async def synthesize(
        self,
        goal: str,
        results: Mapping[str, str],
        *,
        max_input_tokens: int | None = None,
        task_id: str = "synthesize",
    ) -> str:
        """One answer to `goal` from the workers' `results` (task id -> output).

        When the results do not fit `max_input_tokens` (default: the manager's), they
        are condensed in batches that fit, in parallel, and the notes merged again,
        until one final call sees everything.
        """
        if not results:
            raise ValueError("no results to synthesize; run the plan's tasks first")
        limit = max_input_tokens if max_input_tokens is not None else self.max_input_tokens
        model = self.route(None, "synthesizer")
        overhead = approx_tokens(SYNTHESIZER_SYSTEM + synthesis_prompt(goal, {}, partial=True))
        room = limit - overhead - 64
        notes_max = min(self.synthesis_max_tokens, room // 3)
        if notes_max < 64:
            raise ValueError(
                f"max_input_tokens={limit} is too small to synthesize: the goal and "
                f"instructions alone take about {overhead} tokens; allow at least "
                f"{overhead + 64 + 192}"
            )
        current = dict(results)
        for level in range(1, _MAX_LEVELS + 1):
            batches = pack(current, room, approx_tokens)
            if len(batches) == 1:
                return await self._synthesis_call(
                    goal, batches[0], model, task_id, self.synthesis_max_tokens, partial=False
                )
            _log.info("manager.condense", task_id=task_id, level=level, batches=len(batches))
            async with asyncio.TaskGroup() as group:
                calls = [
                    group.create_task(
                        self._synthesis_call(
                            goal, batch, model, f"{task_id}.{level}.{i}", notes_max, partial=True
                        )
                    )
                    for i, batch in enumerate(batches, 1)
                ]
            current = {f"notes {level}.{i}": c.result() for i, c in enumerate(calls, 1)}
        raise RuntimeError(f"synthesis did not converge in {_MAX_LEVELS} levels")  # unreachable

    async def _synthesis_call(
        self,
        goal: str,
        batch: Mapping[str, str],
        model: str,
        task_id: str,
        max_tokens: int,
        *,
        partial: bool,
    ) -> str:
        job = WorkerJob(
            task_id=task_id,
            prompt=synthesis_prompt(goal, batch, partial=partial),
            model=model,
            system=SYNTHESIZER_SYSTEM,
            max_tokens=max_tokens,
            kind="dagwright.condense" if partial else "dagwright.synthesize",
        )
        result: WorkerResult = await self.worker.run(job)
        self._spent.add(result.usage, result.cost_usd, result.calls)
        return result.output


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": text}]}
