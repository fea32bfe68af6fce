"""Start (or resume) a workflow run: backend, budget, journal, executor, runner, outputs.

`launch` is what `dagwright run` and `dagwright resume` call; it is usable from Python
too. Nothing here calls the API before the spec, inputs, agents and graph are valid.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel

from agents.agent import Agent
from agents.anthropic_client import AnthropicClient
from agents.client import LLMClient
from agents.estimate import OutputEstimator
from agents.worker import Worker
from orchestrator._budget_sampler import emit_sample, sample_budget, stop_sampler
from orchestrator.budget import Budget
from orchestrator.call import BudgetedCaller
from orchestrator.config_errors import ConfigError, ConfigIssue, did_you_mean
from orchestrator.events import Event, EventLog
from orchestrator.executors import Execution, ExecutionContext, ExecutorChoice, open_executor
from orchestrator.graph import TaskGraph
from orchestrator.hooks import HookDispatcher, HookError, RunHooks
from orchestrator.journal import JOURNAL_FILE, CrossRunCache, Journal, TaskRecord
from orchestrator.limits import MODEL_CLASSES, AccountingMode, ModelLimits
from orchestrator.prediction import Prediction, predict
from orchestrator.runner import Executor, RunCaps, Runner, RunResult
from orchestrator.spec import WorkflowSpec, parse_workflow
from orchestrator.steps import StepExecutor, StepFunction
from orchestrator.workflow_exec import WorkflowExecutor, build_agents
from policies.retry import RetryPolicy

__all__ = [
    "Backend",
    "Prediction",
    "budget_limits",
    "emulator_backend",
    "launch",
    "make_budget",
    "new_run_id",
    "predict",
    "real_backend",
    "resume_spec",
    "write_outputs",
]


@dataclass(kw_only=True)
class Backend:
    """Where model calls go: a client, what to call it in messages, and secrets to redact."""

    client: LLMClient
    description: str
    offline: bool
    secrets: tuple[str, ...] = ()
    emulator: Any = None

    async def aclose(self) -> None:
        """Close the client's connections."""
        close = getattr(self.client, "aclose", None)
        if close is not None:
            await close()


def budget_limits(spec: WorkflowSpec) -> dict[str, ModelLimits] | None:
    """The spec's limits per model class, or None to learn them from the response headers."""
    if spec.limits is None:
        return None
    out = {}
    for name, _ in MODEL_CLASSES:
        limits = spec.limits.for_class(name)
        if limits is not None:
            out[name] = limits
    return out or None


def make_budget(
    spec: WorkflowSpec, *, mode: AccountingMode, policy: str, url: str | None = None
) -> Budget:
    """The run's budget: in memory, or shared through Redis (`budget:` section, or `url`)."""
    settings = spec.budget
    if url is None and settings.backend == "memory":
        return Budget(budget_limits(spec), mode=mode, policy=policy)
    url = url or settings.url
    if not url:
        raise ConfigError(
            [
                ConfigIssue(
                    file=None,
                    line=None,
                    path="budget.url",
                    message="budget backend 'redis' needs the Redis server's URL",
                    hint="add `url: redis://127.0.0.1:6379/0` under `budget:`, or pass "
                    "--budget-url",
                )
            ]
        )
    try:
        from orchestrator.budget.redis_budget import RedisBudget
    except ImportError:
        raise ConfigError(
            [
                ConfigIssue(
                    file=None,
                    line=None,
                    path="budget.backend",
                    message="the Redis budget needs the `redis` package, which is not installed",
                    hint="pip install 'dagwright[redis]' (or pip install 'redis>=5')",
                )
            ]
        ) from None
    try:
        return RedisBudget(
            url,
            budget_limits(spec),
            mode=mode,
            policy=policy,
            namespace=settings.namespace,
            expected_processes=settings.expected_processes,
        )
    except ValueError as exc:
        issue = ConfigIssue(file=None, line=None, path="budget.url", message=str(exc))
        raise ConfigError([issue]) from None


def emulator_backend(spec: WorkflowSpec, *, seed: int = 0, config: Any = None) -> Backend:
    """The in-process emulator, enforcing the spec's limits (so offline runs behave alike)."""
    from orchestrator.emulator import Emulator, EmulatorConfig

    if config is None:
        data: dict[str, Any] = {"seed": seed}
        if spec.limits is not None:
            data["accounting"] = spec.limits.accounting
            if spec.limits.tier is not None:
                data["tier"] = spec.limits.tier
            data["limits"] = {
                name: {
                    k: v for k, v in spec.limits.classes[name].model_dump().items() if v is not None
                }
                for name in spec.limits.classes
            }
        config = EmulatorConfig.model_validate(data)
    emulator = Emulator(config)
    client = AnthropicClient(http_client=emulator.http_client())
    return Backend(
        client=client,
        description=f"built-in emulator (offline, seed {config.seed})",
        offline=True,
        emulator=emulator,
    )


def real_backend(base_url: str | None = None, *, api_key: str | None = None) -> Backend:
    """The real API (or any server at `base_url`); key from `ANTHROPIC_API_KEY`."""
    key = api_key or os.environ.get("ANTHROPIC_API_KEY")
    client = AnthropicClient(api_key=key, base_url=base_url)
    where = base_url or client.base_url
    return Backend(
        client=client, description=f"API at {where}", offline=False, secrets=(key or "",)
    )


def new_run_id(name: str) -> str:
    """`<workflow>-<UTC timestamp>-<4 hex>`: sortable, unique enough, safe as a folder name."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:40] or "run"
    return f"{safe}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


@dataclass(kw_only=True)
class _Meta:
    workflow_path: str
    workflow_text: str
    policy: str
    seed: int
    extra: dict[str, Any] = field(default_factory=dict)


def _output_priors(spec: WorkflowSpec, out_root: Path, run_id: str) -> dict[str, list[int]]:
    """Output sizes the earlier runs of this workflow under `out_root` learned, by task
    kind (a task's agent, else its id, as the worker's calls are kinded), so a run starts
    with its kinds' sizes known instead of reserving whole `max_tokens` until its first
    answers. A plan task's children are not included (their ids differ per plan)."""
    if not out_root.is_dir():
        return {}
    history = CrossRunCache(out_root, exclude=[run_id])
    try:
        by_task = history.outputs(spec.name)
    finally:
        history.close()
    priors: dict[str, list[int]] = {}
    for task in spec.tasks:
        sizes = by_task.get(task.id)
        if sizes:
            priors.setdefault(task.agent or task.id, []).extend(sizes)
    return priors


async def launch(
    spec: WorkflowSpec,
    *,
    inputs: Mapping[str, Any],
    backend: Backend,
    out_root: Path,
    run_id: str,
    workflow_path: Path | None = None,
    workflow_text: str = "",
    policy: str | None = None,
    seed: int = 0,
    resume: bool = False,
    listeners: Iterable[Callable[[Event], None]] = (),
    on_budget: Callable[[Budget], None] | None = None,
    stream: bool = False,
    reuse: bool = False,
    agents: Mapping[str, Agent] | None = None,
    steps: Mapping[str, StepFunction] | None = None,
    output_models: Mapping[str, type[BaseModel]] | None = None,
    hooks: RunHooks | None = None,
    budget_url: str | None = None,
    executor: ExecutorChoice | str | None = None,
) -> RunResult:
    """Run (or resume) `spec` and write its outputs under `out_root/run_id`.

    A Python `Workflow` also passes what its spec cannot hold: built `agents` by name
    (used instead of importing the spec's), the functions of its `steps` and pydantic
    `output_models` by task id. `hooks` (see `orchestrator.hooks`) are called during the
    run; `HookError` is raised when `on_run_start` or `on_run_end` fails. `executor`
    chooses where worker calls run (`local` by default, or `ray`; see `orchestrator.executors`).
    """
    base_dir = workflow_path.parent if workflow_path is not None else None
    python_agents = dict(agents or {})
    step_functions = dict(steps or {})
    _check_steps(spec, step_functions)
    agents = {**build_agents(spec, base_dir, skip=python_agents), **python_agents}
    graph = TaskGraph.from_spec(spec)
    run_dir = out_root / run_id
    journal_file = run_dir / JOURNAL_FILE
    policy_name = policy or spec.policy
    if resume:
        journal = Journal.open(journal_file)
        journal.set_status("running")
    else:
        meta = _Meta(
            workflow_path=str(workflow_path) if workflow_path else "",
            workflow_text=workflow_text,
            policy=policy_name,
            seed=seed,
        )
        journal = Journal.create(
            journal_file,
            run_id=run_id,
            workflow_name=spec.name,
            spec_json=spec.model_dump_json(),
            inputs=dict(inputs),
            meta=meta.__dict__,
        )
    mode = spec.limits.accounting if spec.limits is not None else "actual"
    budget = make_budget(spec, mode=mode, policy=policy_name, url=budget_url)
    if on_budget is not None:
        on_budget(budget)
    events = EventLog(
        run_id,
        clock=budget.clock.now,
        path=run_dir / "events.jsonl",
        secrets=backend.secrets,
        listeners=tuple(listeners),
    )
    dispatcher = HookDispatcher(hooks, events) if hooks is not None else None
    if dispatcher is not None:
        events.listen(dispatcher.listener)
    reuse_cache = CrossRunCache(out_root, exclude=[run_id]) if reuse else None
    output_priors = _output_priors(spec, out_root, run_id)
    execution: Execution | None = None
    try:
        redis_url = budget_url or (spec.budget.url if spec.budget.backend == "redis" else None)
        execution = await open_executor(
            executor,
            ExecutionContext(
                backend=backend,
                run_id=run_id,
                limits=budget_limits(spec),
                mode=mode,
                policy=policy_name,
                seed=seed,
                base_dir=base_dir,
                budget_url=redis_url,
                budget_namespace=spec.budget.namespace,
                budget_processes=spec.budget.expected_processes,
                cache_warm_first=spec.context.warm_first,
                output_priors=output_priors,
            ),
        )
        # Calls the driver makes itself (a plan task's planning call) share the executor's budget.
        driver_client, driver_budget = execution.driver_calls(backend.client, budget)
        outputs = OutputEstimator()
        outputs.prime(output_priors)
        caller = BudgetedCaller(
            driver_client,
            driver_budget,
            retry=RetryPolicy(),
            outputs=outputs,
            seed=seed,
            events=events,
            cache_warm_first=spec.context.warm_first,
        )
        worker = Worker(caller)
        run_executor: Executor = WorkflowExecutor(
            spec,
            inputs,
            worker,
            agents=agents,
            base_dir=base_dir,
            stream=stream,
            reuse=reuse_cache,
            output_models=output_models,
            turn_hook=dispatcher.on_turn if dispatcher is not None else None,
            tool_hook=dispatcher.on_tool_call if dispatcher is not None else None,
        )
        run_executor = execution.wrap(run_executor)
        if step_functions:
            run_executor = StepExecutor(step_functions, inputs=inputs, fallback=run_executor)
        if dispatcher is not None:
            run_executor = dispatcher.wrap(run_executor)
        step_timeouts = {
            t.id: t.timeout for t in spec.tasks if t.kind == "step" and t.timeout is not None
        }
        runner = Runner(
            graph,
            run_executor,
            run_id=run_id,
            journal=journal,
            events=events,
            on_failure=spec.on_failure,
            caps=RunCaps(
                max_total_tokens=spec.max_total_tokens,
                max_cost_usd=spec.max_cost_usd,
                deadline_s=spec.deadline,
            ),
            task_timeout=step_timeouts or None,
            after_task=dispatcher.after_task if dispatcher is not None else None,
        )
        if dispatcher is not None:
            try:
                await dispatcher.call("on_run_start", run_id, graph, dict(inputs))
            except HookError:
                journal.set_status("failed")
                raise
        sampler = asyncio.create_task(sample_budget(budget, events), name="budget-sampler")
        try:
            result = await runner.run()
        finally:
            await stop_sampler(sampler)
            emit_sample(budget, events)
        write_outputs(run_dir, result, spec=spec, backend=backend.description)
        if dispatcher is not None:
            try:
                await dispatcher.call("on_run_end", result)
            except HookError as exc:
                exc.result = result
                raise
        return result
    finally:
        if execution is not None:
            await execution.aclose()
        if dispatcher is not None:
            await dispatcher.aclose()
        if reuse_cache is not None:
            reuse_cache.close()
        events.close()
        journal.close()
        _write_report(run_dir)
        close_budget = getattr(budget, "aclose", None)
        if close_budget is not None:
            await close_budget()  # a RedisBudget: pending settlements, then disconnect


def _write_report(run_dir: Path) -> None:
    """`report.html` for the run; a failure here is logged, never lost results."""
    from orchestrator.report import write_report

    try:
        write_report(run_dir)
    except Exception as exc:
        structlog.get_logger("dagwright.report").warning(
            "report.failed", run_dir=str(run_dir), error=f"{type(exc).__name__}: {exc}"
        )


def _check_steps(spec: WorkflowSpec, steps: Mapping[str, StepFunction]) -> None:
    """Every function step of `spec` has a function, and every function a step."""
    issues: list[ConfigIssue] = []
    source = spec.source_map
    step_ids = [t.id for t in spec.tasks if t.kind == "step"]
    for index, task in enumerate(spec.tasks):
        if task.kind == "step" and task.id not in steps:
            issues.append(
                source.issue(
                    ("tasks", index),
                    f"task {task.id!r} is a function step, but no function was given for it",
                    "build the workflow with Workflow.step(...), which passes its functions",
                )
            )
    for task_id in steps:
        if task_id not in step_ids:
            hint = did_you_mean(task_id, step_ids)
            message = f"a function was given for {task_id!r}, which is not a function step"
            issues.append(source.issue(("tasks",), message, hint))
    if issues:
        raise ConfigError(issues)


def resume_spec(run_dir: Path) -> tuple[WorkflowSpec, dict[str, Any], dict[str, Any]]:
    """The spec, inputs and meta a journaled run was started with (for `resume`)."""
    with Journal.open(run_dir / JOURNAL_FILE, read_only=True) as journal:
        info = journal.run_info()
    meta = dict(info.meta)
    if not meta.get("workflow_text"):
        raise ConfigError(
            [
                ConfigIssue(
                    file=None,
                    line=None,
                    path=str(run_dir),
                    message=f"run {info.run_id!r} has no workflow YAML in its journal: "
                    "it was started from Python",
                    hint="resume it from Python: Workflow.run(run_id=..., resume=True)",
                )
            ]
        )
    path = Path(meta.get("workflow_path") or "workflow.yaml")
    spec = parse_workflow(meta.get("workflow_text", ""), file=str(path), base_dir=path.parent)
    return spec, dict(info.inputs), meta


def _record_json(record: TaskRecord) -> dict[str, Any]:
    return {
        "status": record.status,
        "model": record.model,
        "attempts": record.attempts,
        "usage": record.usage.to_api(),
        "cost_usd": round(record.cost_usd, 6),
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "waited_s": record.waited_s,
        "error": record.error,
    }


def write_outputs(
    run_dir: Path, result: RunResult, *, spec: WorkflowSpec, backend: str = ""
) -> Path:
    """One file per task (`tasks/<id>.md`, or `.json` for structured output) + `result.json`."""
    tasks_dir = run_dir / "tasks"
    tasks_dir.mkdir(parents=True, exist_ok=True)
    for task_id, record in result.records.items():
        if record.status != "succeeded":
            continue
        if record.data is not None:
            text = json.dumps(record.data, indent=2, ensure_ascii=False) + "\n"
            (tasks_dir / f"{task_id}.json").write_text(text, encoding="utf-8")
        else:
            (tasks_dir / f"{task_id}.md").write_text(record.output + "\n", encoding="utf-8")
    summary = {
        "run_id": result.run_id,
        "workflow": spec.name,
        "status": result.status,
        "reason": result.reason,
        "backend": backend,
        "makespan_s": round(result.makespan_s, 3),
        "usage": result.usage.to_api(),
        "cost_usd": round(result.cost_usd, 6),
        "tasks": {t: _record_json(r) for t, r in sorted(result.records.items())},
    }
    path = run_dir / "result.json"
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return path
