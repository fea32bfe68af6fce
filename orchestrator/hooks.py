"""`RunHooks`: callbacks into a run, for your own logging, UI or guardrails.

```python
class Log(RunHooks):
    async def on_task_end(self, task_id: str, record: TaskRecord) -> None:
        print(task_id, record.status, f"${record.cost_usd:.4f}")

result = await wf.run(hooks=Log())
```

Override any method; the others do nothing. Methods may be `async def` (awaited) or plain
`def`. They are called in this order: `on_run_start`; then per task `on_task_start`,
`on_budget_wait` (each time one of its model calls had to wait for the budget),
`on_turn` (after each model turn), `on_tool_call` (after each tool invocation) and
`on_task_end` (with the task's record, succeeded or failed); finally `on_run_end`. Tasks
run concurrently, so hooks of different tasks interleave; those of one task do not.
Function steps get `on_task_start` and `on_task_end` only. A hook runs inside the run:
a slow one slows its task down.

A hook that raises is never ignored. It is reported as a `hook.error` event (and an
error log line) and:

- in a task's hook (`on_task_start` ... `on_task_end`), it fails that task — the task's
  error names the hook — so the run ends `failed` (a guardrail can stop a task this way;
  whether other tasks go on follows `on_failure`);
- in `on_run_start`, no task runs and `HookError` is raised from the run;
- in `on_run_end`, `HookError` is raised from the run, with the finished (and already
  written) `RunResult` as `error.result`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog

from orchestrator.events import Event, EventLog

if TYPE_CHECKING:
    from agents.worker import ToolCall
    from orchestrator.graph import TaskGraph, TaskNode
    from orchestrator.journal import TaskRecord
    from orchestrator.runner import Executor, RunResult, TaskContext, TaskOutput

__all__ = ["HOOK_NAMES", "HookDispatcher", "HookError", "RunHooks"]

_log = structlog.get_logger("dagwright.hooks")

HOOK_NAMES: tuple[str, ...] = (
    "on_run_start",
    "on_task_start",
    "on_budget_wait",
    "on_turn",
    "on_tool_call",
    "on_task_end",
    "on_run_end",
)
"""The methods of `RunHooks`, in the order a task's run calls them."""


class RunHooks:
    """Base class of run callbacks: every method is a no-op; override the ones you need."""

    async def on_run_start(self, run_id: str, graph: TaskGraph, inputs: Mapping[str, Any]) -> None:
        """Before any task starts (after the journal is open)."""

    async def on_task_start(self, task_id: str, node: TaskNode) -> None:
        """When a task starts (a resumed run does not restart finished tasks)."""

    async def on_budget_wait(self, task_id: str, waited_s: float, attempt: int) -> None:
        """After a model call of the task waited `waited_s` seconds for the budget."""

    async def on_turn(self, task_id: str, turn: int, messages: list[dict[str, Any]]) -> None:
        """After model turn `turn` (from 1) and its tool results; `messages` so far (read-only)."""

    async def on_tool_call(self, task_id: str, call: ToolCall) -> None:
        """After a tool invocation finished; `call.outcome` is what the model will read."""

    async def on_task_end(self, task_id: str, record: TaskRecord) -> None:
        """When a started task ends, succeeded or failed, before its record is journaled."""

    async def on_run_end(self, result: RunResult) -> None:
        """After the run ended and its outputs were written."""


class HookError(Exception):
    """A `RunHooks` method raised; the original exception is `__cause__` (and `error`)."""

    def __init__(
        self,
        hook: str,
        error: BaseException,
        *,
        task_id: str | None = None,
        result: RunResult | None = None,
    ) -> None:
        self.hook = hook
        self.error = error
        self.task_id = task_id
        self.result = result
        where = f" (task {task_id!r})" if task_id is not None else ""
        super().__init__(f"hook {hook}{where} raised {type(error).__name__}: {error}")


class HookDispatcher:
    """Calls one run's `RunHooks`: from the executor, the worker's callbacks and the events."""

    def __init__(self, hooks: RunHooks, events: EventLog) -> None:
        self.hooks = hooks
        self.events = events
        self._pending: dict[str, list[asyncio.Task[None]]] = {}

    async def call(self, hook: str, *args: Any, task_id: str | None = None) -> None:
        """Call `hook`; on an exception report it and raise `HookError`."""
        try:
            result = getattr(self.hooks, hook)(*args)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            error = HookError(hook, exc, task_id=task_id)
            self.events.emit("hook.error", task_id, hook=hook, error=f"{type(exc).__name__}: {exc}")
            _log.error("hook.error", hook=hook, task_id=task_id, error=repr(exc))
            raise error from exc

    # -- wiring --------------------------------------------------------------------------

    def listener(self, event: Event) -> None:
        """The `EventLog` listener: turns `budget.waiting` into `on_budget_wait`."""
        if event.name != "budget.waiting" or event.task_id is None:
            return
        task_id = event.task_id
        coro = self.call(
            "on_budget_wait",
            task_id,
            float(event.data.get("waited_s", 0.0)),
            int(event.data.get("attempt", 1)),
            task_id=task_id,
        )
        # Events are emitted synchronously; the hook runs as a task, and the task's next
        # hook waits for it (`settle`), so one task's hooks still run in order.
        self._pending.setdefault(task_id, []).append(asyncio.ensure_future(coro))

    async def settle(self, task_id: str) -> None:
        """Wait for the task's pending `on_budget_wait` calls; re-raise the first failure."""
        pending = self._pending.pop(task_id, [])
        if not pending:
            return
        results = await asyncio.gather(*pending, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def wrap(self, execute: Executor) -> Executor:
        """`execute` preceded by `on_task_start`."""

        async def run(ctx: TaskContext) -> TaskOutput:
            await self.call("on_task_start", ctx.task_id, ctx.node, task_id=ctx.task_id)
            return await execute(ctx)

        return run

    async def on_turn(self, task_id: str, turn: int, messages: list[dict[str, Any]]) -> None:
        """The executor's turn hook."""
        await self.settle(task_id)
        await self.call("on_turn", task_id, turn, messages, task_id=task_id)

    async def on_tool_call(self, task_id: str, call: ToolCall) -> None:
        """The executor's tool hook."""
        await self.settle(task_id)
        await self.call("on_tool_call", task_id, call, task_id=task_id)

    async def after_task(self, ctx: TaskContext, record: TaskRecord) -> None:
        """The runner's `after_task`: `on_task_end`."""
        await self.settle(ctx.task_id)
        await self.call("on_task_end", ctx.task_id, record, task_id=ctx.task_id)

    async def aclose(self) -> None:
        """Cancel hook calls left pending by cancelled tasks."""
        pending = [t for tasks in self._pending.values() for t in tasks]
        self._pending.clear()
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
