"""Runs a YAML-defined task: render its prompt from inputs and upstream results, call a worker.

`WorkflowExecutor` is the `Executor` the runner uses for a `WorkflowSpec`. Templates and
agents are resolved once, before the run (so a broken tool import path fails before any
API call); each task's transcript is journaled turn by turn so a resumed run continues a
tool loop where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agents.agent import Agent
from agents.worker import ToolCall, Worker, WorkerJob
from orchestrator._expansion_tasks import PlanTasks
from orchestrator.config_errors import ConfigError, ConfigIssue
from orchestrator.journal import CrossRunCache, content_hash
from orchestrator.runner import TaskContext, TaskOutput
from orchestrator.spec import TaskSpec, WorkflowSpec, resolve_output_model
from orchestrator.template import Template

__all__ = ["ToolHook", "TurnHook", "WorkflowExecutor", "build_agents"]

TurnHook = Callable[[str, int, list[dict[str, Any]]], Awaitable[None]]
"""`hook(task_id, turn, messages)`, awaited after each model turn is journaled."""
ToolHook = Callable[[str, ToolCall], Awaitable[None]]
"""`hook(task_id, call)`, awaited after each tool invocation."""


def build_agents(
    spec: WorkflowSpec, base_dir: Path | None, *, skip: Collection[str] = ()
) -> dict[str, Agent]:
    """Import every agent's tools and output models; one `ConfigError` listing all problems.

    Agents named in `skip` are left out (a Python workflow supplies them built).
    """
    agents: dict[str, Agent] = {}
    issues: list[ConfigIssue] = []
    for name, agent_spec in spec.agents.items():
        if name in skip:
            continue
        try:
            agents[name] = Agent.from_spec(
                name, agent_spec, base_dir=base_dir, source=spec.source_map
            )
        except ConfigError as exc:
            issues.extend(exc.issues)
    if issues:
        raise ConfigError(issues)
    return agents


def _plain(value: Any) -> Any:
    """Structured output as JSON-able data (the journal and templates hold plain data)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


class WorkflowExecutor:
    """The runner's executor for a `WorkflowSpec`'s model tasks.

    `output_models` gives pydantic output classes by task id (a Python workflow's classes
    that have no import path); `turn_hook` and `tool_hook` are awaited after each turn
    and each tool call (the run's `RunHooks`).
    """

    def __init__(
        self,
        spec: WorkflowSpec,
        inputs: Mapping[str, Any],
        worker: Worker,
        *,
        agents: Mapping[str, Agent] | None = None,
        base_dir: Path | None = None,
        stream: bool = False,
        reuse: CrossRunCache | None = None,
        output_models: Mapping[str, type[BaseModel]] | None = None,
        turn_hook: TurnHook | None = None,
        tool_hook: ToolHook | None = None,
    ) -> None:
        self.spec = spec
        self.inputs = dict(inputs)
        self.worker = worker
        self.agents = dict(agents) if agents is not None else build_agents(spec, base_dir)
        self.stream = stream
        self.reuse = reuse
        self.turn_hook = turn_hook
        self.tool_hook = tool_hook
        self._tasks: dict[str, TaskSpec] = {t.id: t for t in spec.tasks}
        self._templates = {t.id: Template.parse(t.prompt) for t in spec.tasks}
        # Agent system prompts may use inputs only (validated with the spec): render once,
        # so every worker of an agent sends byte-identical system text (one cached prefix).
        self._systems = {
            name: Template.parse(agent.system).render({"inputs": self.inputs, "tasks": {}})
            for name, agent in self.agents.items()
            if agent.system
        }
        self._context = spec.context_prefix()
        self._models: dict[str, type[BaseModel]] = {}
        for task in spec.tasks:
            if isinstance(task.output_schema, str):
                self._models[task.id] = resolve_output_model(task.output_schema)
        self._models.update(output_models or {})
        self.plans = PlanTasks(spec, worker.caller, self.agents, self._systems)

    def render(self, task_id: str, upstream: Mapping[str, Any]) -> str:
        """The task's prompt with inputs and upstream outputs filled in."""
        template = self._templates[task_id]
        tasks = {
            ref: {"output": upstream[ref].output, "data": upstream[ref].data}
            for ref in template.task_refs
            if ref in upstream
        }
        return template.render({"inputs": self.inputs, "tasks": tasks})

    def job(self, ctx: TaskContext) -> WorkerJob:
        """The worker job for one task."""
        if self.plans.is_child(ctx.task_id):
            return self._child_job(ctx)
        task = self._tasks[ctx.task_id]
        agent = self.agents.get(task.agent) if task.agent else None
        model = task.model or (agent.model if agent else None) or self.spec.model
        schema = task.output_schema if isinstance(task.output_schema, dict) else None
        if task.id in self._models:
            schema = None  # the pydantic class is the schema (the spec holds its JSON Schema)
        return WorkerJob(
            task_id=task.id,
            prompt=self.render(task.id, ctx.upstream),
            agent=agent,
            model=model,
            system=self._systems.get(task.agent) if task.agent else None,
            context_prefix=self._context,
            max_tokens=ctx.node.max_tokens,
            expected_output_tokens=task.expected_output_tokens
            or (agent.expected_output_tokens if agent else None),
            output_schema=schema,
            output_model=self._models.get(task.id),
            priority=task.priority,
            tail=ctx.tail,
            timeout=task.timeout,
            stream=self.stream,
            kind=task.agent or task.id,
            max_attempts=task.retries + 1,
        )

    def _child_job(self, ctx: TaskContext) -> WorkerJob:
        """The job of a task a plan task expanded into (see `orchestrator.expansion`)."""
        planned = self.plans.child_job(ctx)
        plan_task, child = planned.plan_task, planned.child
        agent = self.agents.get(child.agent) if child.agent else None
        return WorkerJob(
            task_id=ctx.task_id,
            prompt=planned.prompt,
            agent=agent,
            model=planned.model,
            system=self._systems.get(child.agent) if child.agent else None,
            context_prefix=self._context,
            max_tokens=ctx.node.max_tokens,
            expected_output_tokens=ctx.node.expected_output_tokens,
            priority=plan_task.priority,
            tail=ctx.tail,
            timeout=plan_task.timeout,
            stream=self.stream,
            kind=child.agent or plan_task.id,
            max_attempts=plan_task.retries + 1,
        )

    def content_hash(self, job: WorkerJob) -> str:
        """What makes the answer: model, system, context, schema, tools, max_tokens, prompt."""
        agent = job.agent
        settings = {
            "system": job.system if job.system is not None else (agent.system if agent else ""),
            "context": job.context_prefix,
            "output_schema": job.api_output_schema,
            "tools": [t.definition for t in job.tools],
            "max_tokens": job.max_tokens,
        }
        return content_hash(settings, model=str(job.resolved_model), prompt=job.prompt)

    async def __call__(self, ctx: TaskContext) -> TaskOutput:
        if ctx.node.kind == "plan":
            return await self.plans.run(ctx, goal=self.render(ctx.task_id, ctx.upstream))
        job = self.job(ctx)
        key = self.content_hash(job)
        if self.reuse is not None:
            hit = self.reuse.find(key)
            if hit is not None:
                # The same task, model and prompt succeeded in an earlier run: no call.
                return TaskOutput(
                    output=hit.output, data=hit.data, attempts=0, model=hit.model, content_hash=key
                )
        journal = ctx.journal
        transcript = None
        if journal is not None:
            turns = journal.transcript(ctx.task_id)
            transcript = turns[-1] if turns else None

        async def on_turn(turn: int, messages: list[dict[str, Any]]) -> None:
            if journal is not None:
                # The worker counts turns from 1; the journal indexes them from 0.
                journal.append_turn(ctx.task_id, turn - 1, json.dumps(messages, default=str))
            if self.turn_hook is not None:
                await self.turn_hook(ctx.task_id, turn, messages)

        on_tool_call = None
        tool_hook = self.tool_hook
        if tool_hook is not None:

            async def on_tool_call(call: ToolCall) -> None:
                await tool_hook(ctx.task_id, call)

        result = await self.worker.run(
            job, transcript=transcript, on_turn=on_turn, on_tool_call=on_tool_call
        )
        return TaskOutput(
            content_hash=key,
            output=result.output,
            data=_plain(result.data),
            usage=result.usage,
            cost_usd=result.cost_usd,
            attempts=result.attempts,
            model=result.model,
            waited_s=result.waited_s,
        )
