"""Runs a YAML-defined task: render its prompt from inputs and upstream results, call a worker.

`WorkflowExecutor` is the `Executor` the runner uses for a `WorkflowSpec`. Templates and
agents are resolved once, before the run (so a broken tool import path fails before any
API call); each task's transcript is journaled turn by turn so a resumed run continues a
tool loop where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agents.agent import Agent
from agents.worker import Worker, WorkerJob
from orchestrator.config_errors import ConfigError, ConfigIssue
from orchestrator.runner import TaskContext, TaskOutput
from orchestrator.spec import TaskSpec, WorkflowSpec, resolve_output_model
from orchestrator.template import Template

__all__ = ["WorkflowExecutor", "build_agents"]


def build_agents(spec: WorkflowSpec, base_dir: Path | None) -> dict[str, Agent]:
    """Import every agent's tools and output models; one `ConfigError` listing all problems."""
    agents: dict[str, Agent] = {}
    issues: list[ConfigIssue] = []
    for name, agent_spec in spec.agents.items():
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
    """The runner's executor for a `WorkflowSpec`'s model tasks."""

    def __init__(
        self,
        spec: WorkflowSpec,
        inputs: Mapping[str, Any],
        worker: Worker,
        *,
        agents: Mapping[str, Agent] | None = None,
        base_dir: Path | None = None,
        stream: bool = False,
    ) -> None:
        self.spec = spec
        self.inputs = dict(inputs)
        self.worker = worker
        self.agents = dict(agents) if agents is not None else build_agents(spec, base_dir)
        self.stream = stream
        self._tasks: dict[str, TaskSpec] = {t.id: t for t in spec.tasks}
        self._templates = {t.id: Template.parse(t.prompt) for t in spec.tasks}
        self._context = spec.context_prefix()
        self._models: dict[str, type[BaseModel]] = {}
        for task in spec.tasks:
            if isinstance(task.output_schema, str):
                self._models[task.id] = resolve_output_model(task.output_schema)

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
        task = self._tasks[ctx.task_id]
        agent = self.agents.get(task.agent) if task.agent else None
        model = task.model or (agent.model if agent else None) or self.spec.model
        schema = task.output_schema if isinstance(task.output_schema, dict) else None
        return WorkerJob(
            task_id=task.id,
            prompt=self.render(task.id, ctx.upstream),
            agent=agent,
            model=model,
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
        )

    async def __call__(self, ctx: TaskContext) -> TaskOutput:
        job = self.job(ctx)
        journal = ctx.journal
        transcript = None
        if journal is not None:
            turns = journal.transcript(ctx.task_id)
            transcript = turns[-1] if turns else None

        def on_turn(turn: int, messages: list[dict[str, Any]]) -> None:
            if journal is not None:
                # The worker counts turns from 1; the journal indexes them from 0.
                journal.append_turn(ctx.task_id, turn - 1, json.dumps(messages, default=str))

        result = await self.worker.run(job, transcript=transcript, on_turn=on_turn)
        return TaskOutput(
            output=result.output,
            data=_plain(result.data),
            usage=result.usage,
            cost_usd=result.cost_usd,
            attempts=result.attempts,
            model=result.model,
            waited_s=result.waited_s,
        )
