"""The Ray executor's worker actor: runs `WorkerJob`s with its own client, caller and budget.

Everything here crosses process boundaries as plain data: `ActorSetup` (a picklable
description of the backend and budget), the `WorkerJob` in, an `ActorOutcome` out. The
actor never touches the journal: it records the `on_turn` and `on_tool_call` callbacks
the worker made, and the driver replays them (journal writes and hooks, in order) when
the outcome arrives. Exceptions come back as text, because the worker's exceptions take
keyword arguments and do not survive pickling; `TaskFailed` keeps its fields.

The class does not import Ray: the driver wraps it with `ray.remote`.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from pydantic import BaseModel

from agents.anthropic_client import AnthropicClient
from agents.estimate import OutputEstimator
from agents.usage import Usage
from agents.worker import TaskFailed, ToolCall, Worker, WorkerJob, WorkerResult
from orchestrator._ray_budget import RemoteBudget
from orchestrator.budget import Budget
from orchestrator.call import BudgetedCaller
from orchestrator.events import EventLog
from orchestrator.limits import AccountingMode, ModelLimits
from policies.retry import RetryPolicy

__all__ = ["ActorOutcome", "ActorSetup", "Callback", "RemoteFailure", "WorkerActor"]


@dataclass(frozen=True, kw_only=True)
class ActorSetup:
    """How a worker actor builds its client and budget (picklable; no secrets in it).

    `base_url` is the API (or emulator) to call; the key is read from the actor's own
    environment variable `api_key_env`. With `budget_url` the actor leases from the Redis
    budget; otherwise from the run's `LeaseBroker` (`broker`, a Ray actor handle).
    """

    owner: str
    base_url: str | None
    api_key_env: str = "ANTHROPIC_API_KEY"
    limits: dict[str, ModelLimits] | None = None
    mode: AccountingMode = "actual"
    policy: str = "critical_path"
    budget_url: str | None = None
    namespace: str = "dagwright"
    expected_processes: int = 1
    seed: int = 0
    extra_paths: tuple[str, ...] = ()
    broker: Any = None
    cache_warm_first: bool = True
    #: Output sizes earlier runs learned, by task kind (`OutputEstimator.prime`).
    output_priors: dict[str, tuple[int, ...]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Callback:
    """One worker callback, in the order it happened: a finished turn, a tool call, or
    an event of the actor's caller (`name`, `data`: waiting for budget, an error, a
    retry) for the driver's event log."""

    kind: Literal["turn", "tool", "event"]
    turn: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    call: ToolCall | None = None
    name: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class _CallerEvents:
    """What `BudgetedCaller` uses of an `EventLog` (`emit`), kept per task on the actor
    until the task's job returns them to the driver."""

    def __init__(self) -> None:
        self.by_task: dict[str | None, list[Callback]] = {}

    def emit(self, name: str, task_id: str | None = None, **data: Any) -> None:
        self.by_task.setdefault(task_id, []).append(Callback(kind="event", name=name, data=data))

    def take(self, task_id: str) -> list[Callback]:
        return self.by_task.pop(task_id, [])


@dataclass(frozen=True, kw_only=True)
class RemoteFailure:
    """A worker exception as data; `task_failed` holds `TaskFailed`'s fields when it was one."""

    message: str
    task_failed: dict[str, Any] | None = None

    def exception(self) -> Exception:
        """The exception to raise in the driver (same text as the worker's)."""
        if self.task_failed is not None:
            fields = dict(self.task_failed)
            return TaskFailed(fields.pop("task_id"), fields.pop("reason"), **fields)
        return RemoteWorkerError(self.message)


class RemoteWorkerError(Exception):
    """A worker failure on a Ray actor, carrying the worker's own message."""


@dataclass(frozen=True, kw_only=True)
class ActorOutcome:
    """What one job on an actor produced: a result or a failure, plus the callbacks."""

    result: WorkerResult | None = None
    failure: RemoteFailure | None = None
    callbacks: list[Callback] = field(default_factory=list)
    node_id: str = ""


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 4000 else text[:4000] + "..."


def _failure(exc: Exception) -> RemoteFailure:
    if isinstance(exc, TaskFailed):
        fields = {
            "task_id": exc.task_id,
            "reason": exc.reason,
            "code": exc.code,
            "fix": exc.fix,
            "attempts": exc.attempts,
            "transcript": exc.transcript,
            "last_output": exc.last_output,
            "usage": exc.usage if isinstance(exc.usage, Usage) else Usage(),
            "cost_usd": exc.cost_usd,
        }
        return RemoteFailure(message=_describe(exc), task_failed=fields)
    return RemoteFailure(message=_describe(exc))


class WorkerActor:
    """Runs worker jobs on one node (a Ray async actor; many jobs at once)."""

    def __init__(self, setup: ActorSetup) -> None:
        self.setup = setup
        for path in setup.extra_paths:
            # Tool modules next to the workflow file are pickled by module name.
            if path not in sys.path:
                sys.path.append(path)
        self._worker: Worker | None = None
        self._client: AnthropicClient | None = None
        self._budget: Any = None
        self._events = _CallerEvents()

    def _build(self) -> Worker:
        setup = self.setup
        key = os.environ.get(setup.api_key_env) or None
        self._client = AnthropicClient(api_key=key, base_url=setup.base_url)
        if setup.budget_url is not None:
            from orchestrator.budget.redis_budget import RedisBudget

            self._budget = RedisBudget(
                setup.budget_url,
                setup.limits,
                mode=setup.mode,
                policy=setup.policy,
                namespace=setup.namespace,
                expected_processes=setup.expected_processes,
            )
        else:
            self._budget = RemoteBudget(setup.broker, owner=setup.owner, mode=setup.mode)
        # Both budgets have what BudgetedCaller uses of Budget: mode, clock and lease().
        outputs = OutputEstimator()
        outputs.prime(setup.output_priors)
        caller = BudgetedCaller(
            self._client,
            cast(Budget, self._budget),
            retry=RetryPolicy(),
            outputs=outputs,
            seed=setup.seed,
            events=cast(EventLog, self._events),  # it has what the caller uses: emit
            cache_warm_first=setup.cache_warm_first,
        )
        return Worker(caller)

    async def ready(self) -> str:
        """Build the client and budget now (a missing key fails here, before any task).

        Returns the id of the Ray node this actor runs on.
        """
        import ray

        if self._worker is None:
            self._worker = self._build()
        return str(ray.get_runtime_context().get_node_id())

    async def run(
        self, job: WorkerJob, transcript: list[dict[str, Any]] | None = None
    ) -> ActorOutcome:
        """Run `job` (continuing `transcript` if given); never raises for the job's errors."""
        if self._worker is None:
            self._worker = self._build()
        callbacks: list[Callback] = []

        def on_turn(turn: int, messages: list[dict[str, Any]]) -> None:
            callbacks.append(Callback(kind="turn", turn=turn, messages=messages))

        def on_tool_call(call: ToolCall) -> None:
            callbacks.append(Callback(kind="tool", call=call))

        try:
            result = await self._worker.run(
                job, transcript=transcript, on_turn=on_turn, on_tool_call=on_tool_call
            )
        except Exception as exc:
            callbacks.extend(self._events.take(job.task_id))
            return ActorOutcome(failure=_failure(exc), callbacks=callbacks)
        callbacks.extend(self._events.take(job.task_id))
        if isinstance(result.data, BaseModel):
            # Plain data crosses the wire; the driver keeps plain data anyway.
            result = dataclasses.replace(result, data=result.data.model_dump(mode="json"))
        return ActorOutcome(result=result, callbacks=callbacks)

    async def aclose(self) -> None:
        """Close the client's connections and the budget's (Redis) connection."""
        if self._client is not None:
            await self._client.aclose()
        close = getattr(self._budget, "aclose", None)
        if close is not None:
            await close()
