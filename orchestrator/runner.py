"""The runner: executes a `TaskGraph`, task by task, as soon as each one's inputs exist.

The runner starts every ready task (up to a safety-net concurrency cap); each task's
model calls then wait in the shared budget, whose split policy decides who goes first.
A finished task is journaled before its dependants start, so a killed run loses at most
the calls that were in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeVar, overload

from pydantic import BaseModel

from agents.usage import Usage
from orchestrator._expansion_live import LiveGraph
from orchestrator._gc import steady_gc
from orchestrator.clock import Clock, LoopClock
from orchestrator.config_errors import did_you_mean
from orchestrator.events import EventLog
from orchestrator.expansion import Expansion
from orchestrator.graph import LatencyModel, TaskGraph, TaskNode
from orchestrator.journal import Journal, TaskRecord

__all__ = [
    "AfterTask",
    "Executor",
    "OnFailure",
    "RunCaps",
    "RunResult",
    "RunStatus",
    "Runner",
    "TaskContext",
    "TaskOutput",
]

OnFailure = Literal["fail_fast", "continue"]
RunStatus = Literal["succeeded", "failed", "stopped", "interrupted"]


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskOutput:
    """What an executor returns for a task that succeeded."""

    output: str
    data: Any = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    attempts: int = 1
    model: str | None = None
    waited_s: float = 0.0
    content_hash: str | None = None
    """Key for reusing this result in later runs (see `WorkflowExecutor(reuse=...)`)."""
    expansion: Expansion | None = None
    """Set by a plan task's first call: the sub-DAG to splice in (see `orchestrator.expansion`)."""


@dataclass(frozen=True, kw_only=True)
class TaskContext:
    """What an executor gets: the node, its upstream results and scheduling hints."""

    task_id: str
    node: TaskNode
    upstream: Mapping[str, TaskRecord]
    """Results of finished tasks (read-only; a task reads only its upstream's)."""
    tail: float
    run_id: str
    journal: Journal | None
    events: EventLog
    expanded: tuple[str, ...] = ()
    """Set on a plan task's second call: the sinks of its expansion (finished, in upstream)."""


Executor = Callable[[TaskContext], Awaitable[TaskOutput]]
AfterTask = Callable[[TaskContext, TaskRecord], Awaitable[None]]
"""Awaited with each started task's record before it is journaled; raising fails the task."""

_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True, kw_only=True, slots=True)
class RunCaps:
    """Limits on one run; crossing one stops admission of new tasks."""

    max_total_tokens: int | None = None
    max_cost_usd: float | None = None
    deadline_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """The outcome of a run: every task's record, totals and why it ended."""

    run_id: str
    status: RunStatus
    records: Mapping[str, TaskRecord]
    makespan_s: float
    reason: str | None = None

    @property
    def usage(self) -> Usage:
        """Usage summed over every task of this run (resumed tasks included)."""
        total = Usage()
        for record in self.records.values():
            total = total + record.usage
        return total

    @property
    def cost_usd(self) -> float:
        """Dollar cost over every task."""
        return sum(r.cost_usd for r in self.records.values())

    def ids(self, status: str) -> list[str]:
        """Task ids with `status` (succeeded, failed, skipped), sorted."""
        return sorted(t for t, r in self.records.items() if r.status == status)

    @property
    def ok(self) -> bool:
        """True when every task succeeded."""
        return self.status == "succeeded"

    def __getitem__(self, task_id: str) -> TaskRecord:
        """The record of `task_id` (`KeyError` with a did-you-mean otherwise)."""
        record = self.records.get(task_id)
        if record is None:
            hint = did_you_mean(task_id, self.records)
            raise KeyError(
                f"no task {task_id!r} in run {self.run_id!r}" + (f"; {hint}" if hint else "")
            )
        return record

    def _succeeded(self, task_id: str) -> TaskRecord:
        record = self[task_id]
        if record.status != "succeeded":
            raise ValueError(f"task {task_id!r} did not succeed ({record.status}: {record.error})")
        return record

    def output(self, task_id: str) -> str:
        """The text output of a task that succeeded (`ValueError` if it did not)."""
        return self._succeeded(task_id).output

    @overload
    def parsed(self, task_id: str) -> Any: ...

    @overload
    def parsed(self, task_id: str, model: type[_M]) -> _M: ...

    def parsed(self, task_id: str, model: type[BaseModel] | None = None) -> Any:
        """A succeeded task's structured output (its JSON data), validated into `model` if given.

        `ValueError` if the task did not succeed or produced no structured output.
        """
        record = self._succeeded(task_id)
        if record.data is None:
            raise ValueError(f"task {task_id!r} has no structured output; use output()")
        return record.data if model is None else model.model_validate(record.data)


class Runner:
    """Runs one graph with one executor; `await runner.run()` returns a `RunResult`.

    `after_task`, if given, is awaited with each started task's record before it is
    journaled; if it raises, the task is recorded as failed with that error.

    A plan task's executor may return an `Expansion` (`TaskOutput.expansion`): its tasks
    are journaled, then joined into the graph, and the plan task runs again, with
    `TaskContext.expanded` set, once they have finished (see `orchestrator.expansion`).

    `steady_gc` (default on) keeps the garbage collector off the long-lived objects for
    the length of the run (see `orchestrator._gc`).
    """

    def __init__(
        self,
        graph: TaskGraph,
        execute: Executor,
        *,
        run_id: str,
        journal: Journal | None = None,
        events: EventLog | None = None,
        clock: Clock | None = None,
        on_failure: OnFailure = "fail_fast",
        max_concurrency: int = 4096,
        caps: RunCaps | None = None,
        tails: Mapping[str, float] | None = None,
        task_timeout: Mapping[str, float] | None = None,
        after_task: AfterTask | None = None,
        steady_gc: bool = True,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if on_failure not in ("fail_fast", "continue"):
            raise ValueError(f"on_failure must be 'fail_fast' or 'continue', got {on_failure!r}")
        self.graph = graph
        self.execute = execute
        self.run_id = run_id
        self.journal = journal
        self.clock: Clock = clock if clock is not None else LoopClock()
        self.events = events or EventLog(run_id, clock=self.clock.now)
        self.on_failure = on_failure
        self.max_concurrency = max_concurrency
        self.caps = caps or RunCaps()
        self._tails = dict(tails) if tails is not None else None
        self._live = LiveGraph(graph)
        self._expanding: dict[str, Expansion] = {}
        self._prepaid: dict[str, tuple[int, float]] = {}
        self._timeouts = dict(task_timeout or {})
        self._after_task = after_task
        self._steady_gc = steady_gc
        self.records: dict[str, TaskRecord] = {}
        # One read-only live view of `records`, shared by every task's context.
        self._upstream: Mapping[str, TaskRecord] = MappingProxyType(self.records)
        self._t0 = 0.0
        self._stop_reason: str | None = None
        self._spent_tokens = 0
        self._spent_cost = 0.0

    def _tail(self, task_id: str) -> float:
        if self._tails is not None:
            return self._tails.get(task_id, 0.0)
        return self.graph.tail(task_id)

    def _elapsed(self) -> float:
        return self.clock.now() - self._t0

    async def run(self) -> RunResult:
        """Run every task not already completed in the journal; never raises for task errors."""
        with steady_gc(self._steady_gc):
            return await self._run()

    async def _run(self) -> RunResult:
        self._t0 = self.clock.now()
        graph = self.graph
        if self._tails is None:
            # Every node's tail in one lookup (`tail` would check the task and the cache each).
            all_tails = graph.tails(LatencyModel())
            self._tails = {t: all_tails[t] for t in graph.order}
        if self.journal is not None:
            self.records.update(self.journal.completed())
        resumed = sorted(self.records)
        self.events.emit(
            "run.started", tasks=len(graph), resumed=len(resumed), on_failure=self.on_failure
        )
        # In-degrees: the number of dependencies, without a frozenset of them per task.
        in_degree = dict(graph.networkx.in_degree)
        pending = {t: in_degree[t] for t in graph.order}
        for done in resumed:
            for child in graph.dependants(done) if done in graph else ():
                pending[child] -= 1
        tails = self._tails
        # Ready tasks start in longest-tail-first order when the concurrency cap binds.
        ready: list[tuple[float, int, str]] = []
        position = {t: i for i, t in enumerate(graph.order)}
        for t in graph.order:
            if pending[t] == 0 and t not in self.records:
                heapq.heappush(ready, (-tails.get(t, 0.0), position[t], t))
        running: dict[asyncio.Task[TaskRecord], str] = {}
        # Finished tasks report here: O(1) per completion, where asyncio.wait over every
        # running task would cost O(running) callbacks each time (slow at 10k+ tasks).
        completions = _Completions()
        status: RunStatus = "succeeded"
        deadline = self.caps.deadline_s
        try:
            while ready or running:
                while ready and len(running) < self.max_concurrency and not self._stopped():
                    task_id = heapq.heappop(ready)[2]
                    self.events.emit("task.ready", task_id)
                    task = asyncio.create_task(self._run_task(task_id), name=f"task:{task_id}")
                    task.add_done_callback(completions.add)
                    running[task] = task_id
                if not running:
                    break
                timeout = None
                if deadline is not None:
                    timeout = max(0.0, deadline - self._elapsed())
                if deadline is None:
                    # No deadline: no timeout context (it costs a few us per wake-up).
                    await completions.wait()
                else:
                    try:
                        async with asyncio.timeout(timeout):
                            await completions.wait()
                    except TimeoutError:
                        pass
                finished = completions.take()
                if not finished and deadline is not None and self._elapsed() >= deadline:
                    self._stop_reason = f"deadline of {deadline:g}s reached"
                    await self._cancel(running)
                    break
                for task in finished:
                    if task not in running:
                        continue
                    task_id = running.pop(task)
                    record = task.result()
                    expansion = self._expanding.pop(task_id, None)
                    if expansion is not None:
                        for t in self._splice(expansion, pending, position):
                            heapq.heappush(ready, (-tails.get(t, 0.0), position[t], t))
                        continue
                    self._finish(record)
                    if record.status == "succeeded":
                        for child in self._live.dependants(task_id):
                            pending[child] -= 1
                            if pending[child] == 0:
                                item = (-tails.get(child, 0.0), position[child], child)
                                heapq.heappush(ready, item)
                    elif self.on_failure == "fail_fast":
                        self._stop_reason = f"task {task_id!r} failed (on_failure: fail_fast)"
                if self._stop_reason is not None and self.on_failure == "fail_fast":
                    await self._cancel(running)
                    break
        except asyncio.CancelledError:
            await self._cancel(running)
            status = "interrupted"
            self._stop_reason = "interrupted"
            self._close_journal("interrupted")
            self.events.emit("run.finished", status=status, reason=self._stop_reason)
            raise
        self._skip_unreached()
        failed = any(r.status == "failed" for r in self.records.values())
        if failed:
            status = "failed"
        elif len(self.ids_succeeded()) < len(self._live):
            status = "stopped"
        self._close_journal("finished" if status == "succeeded" else "failed")
        result = RunResult(
            run_id=self.run_id,
            status=status,
            records=dict(self.records),
            makespan_s=self._elapsed(),
            reason=self._stop_reason,
        )
        self.events.emit(
            "run.finished",
            status=status,
            reason=self._stop_reason,
            makespan_s=result.makespan_s,
            cost_usd=result.cost_usd,
        )
        return result

    def ids_succeeded(self) -> list[str]:
        """Tasks that succeeded so far."""
        return [t for t, r in self.records.items() if r.status == "succeeded"]

    def _stopped(self) -> bool:
        return self._stop_reason is not None

    def _close_journal(self, status: Literal["finished", "failed", "interrupted"]) -> None:
        if self.journal is not None:
            self.journal.set_status(status)

    async def _cancel(self, running: dict[asyncio.Task[TaskRecord], str]) -> None:
        for task in running:
            task.cancel()
        for task, task_id in list(running.items()):
            with contextlib.suppress(asyncio.CancelledError):
                record = await task
                if self._expanding.pop(task_id, None) is None:
                    self._finish(record)
        running.clear()

    def _finish(self, record: TaskRecord) -> None:
        self.records[record.task_id] = record
        if self.journal is not None:
            # Committed before any dependant starts: the durability promise.
            self.journal.record_task_result(record)
        if record.status == "succeeded":
            # A plan task's planning call was counted when its expansion joined the graph.
            tokens, cost = self._prepaid.pop(record.task_id, (0, 0.0))
            self._spent_tokens += record.usage.prompt_tokens + record.usage.output_tokens - tokens
            self._spent_cost += record.cost_usd - cost
            self.events.emit(
                "task.finished",
                record.task_id,
                attempts=record.attempts,
                output_tokens=record.usage.output_tokens,
                input_tokens=record.usage.input_tokens,
                cache_read_tokens=record.usage.cache_read_input_tokens,
                cache_write_tokens=record.usage.cache_creation_input_tokens,
                cost_usd=record.cost_usd,
                waited_s=record.waited_s,
                started_at=record.started_at,
                finished_at=record.finished_at,
            )
            self._check_caps()
        else:
            self.events.emit(
                "task.failed", record.task_id, error=record.error, attempts=record.attempts
            )

    def _check_caps(self) -> None:
        caps = self.caps
        if caps.max_total_tokens is not None and self._spent_tokens > caps.max_total_tokens:
            self._stop_reason = (
                f"max_total_tokens {caps.max_total_tokens:,} exceeded "
                f"({self._spent_tokens:,} used); no new tasks were started"
            )
        if caps.max_cost_usd is not None and self._spent_cost > caps.max_cost_usd:
            self._stop_reason = (
                f"max_cost_usd ${caps.max_cost_usd:.2f} exceeded "
                f"(${self._spent_cost:.4f} spent); no new tasks were started"
            )

    def _skip_unreached(self) -> None:
        for task_id in list(self._live.order()):
            if task_id in self.records:
                continue
            failed_up = self._live.failed_upstream(task_id, self.records)
            reason = (
                f"skipped: upstream task {sorted(failed_up)[0]!r} failed"
                if failed_up
                else f"not run: {self._stop_reason or 'run ended early'}"
            )
            record = TaskRecord(task_id=task_id, status="skipped", error=reason)
            self.records[task_id] = record
            self.events.emit("task.skipped", task_id, reason=reason)

    async def _run_task(self, task_id: str) -> TaskRecord:
        node = self._live.node(task_id)
        started = self._elapsed()
        if self.journal is not None:
            self.journal.record_task_start(task_id, 1, started)
        self.events.emit("task.started", task_id)
        context = TaskContext(
            task_id=task_id,
            node=node,
            upstream=self._upstream,
            tail=(self._tails or {}).get(task_id, 0.0),
            run_id=self.run_id,
            journal=self.journal,
            events=self.events,
            expanded=self._live.waiting_on(task_id) if task_id in self._live.expansions else (),
        )
        record = await self._execute(context, started)
        if self._after_task is None or task_id in self._expanding:
            return record
        try:
            await self._after_task(context, record)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = _describe(exc)
            if record.error:
                error = f"{record.error}; then {error}"
            # The task's usage and cost stay on the record: the money was spent.
            return dataclasses.replace(record, status="failed", error=error)
        return record

    async def _execute(self, context: TaskContext, started: float) -> TaskRecord:
        task_id = context.task_id
        timeout = self._timeouts.get(task_id)
        try:
            if timeout is None:
                # Most tasks have no timeout: skip the context (a few us per task).
                out = await self.execute(context)
            else:
                async with asyncio.timeout(timeout):
                    out = await self.execute(context)
        except asyncio.CancelledError:
            # Interrupted: nothing is recorded, so a resume runs this task again.
            raise
        except TimeoutError:
            return self._failed(task_id, started, f"timed out after {timeout:g}s")
        except Exception as exc:
            return self._failed(task_id, started, _describe(exc))
        usage, cost = out.usage, out.cost_usd
        if out.expansion is not None:
            problem = self._live.problem(task_id, out.expansion)
            if problem is not None:
                return self._failed(task_id, started, problem)
            self._expanding[task_id] = out.expansion
        elif task_id in self._live.expansions:
            # The plan task's record carries what planning spent, too.
            planned = self._live.expansions[task_id]
            usage, cost = usage + planned.usage, cost + planned.cost_usd
        return TaskRecord(
            task_id=task_id,
            status="succeeded",
            output=out.output,
            data=out.data,
            usage=usage,
            cost_usd=cost,
            attempts=out.attempts,
            model=out.model,
            started_at=started,
            finished_at=self._elapsed(),
            waited_s=out.waited_s,
            content_hash=out.content_hash,
        )

    def _splice(
        self, expansion: Expansion, pending: dict[str, int], position: dict[str, int]
    ) -> list[str]:
        """Join `expansion` into the live graph; returns the tasks now ready to start."""
        plan_id = expansion.plan_id
        if self.journal is not None and not expansion.replayed:
            # Durable before any child starts: a resumed run replays it, never re-plans.
            self.journal.record_expansion(plan_id, json.dumps(dict(expansion.record)))
        done = {t for t, r in self.records.items() if r.status == "succeeded"}
        waiting = self._live.splice(expansion, done)
        pending.update(waiting)
        tails = self._tails if self._tails is not None else {}
        sub = expansion.graph
        for task_id in sub.order:
            position[task_id] = len(position)
            tails[task_id] = tails.get(plan_id, 0.0) + sub.tail(task_id)
        ready = [t for t, n in waiting.items() if n == 0 and t not in self.records]
        self.events.emit(
            "task.expanded",
            plan_id,
            tasks=len(sub),
            sinks=list(expansion.sinks),
            replayed=expansion.replayed,
        )
        if not expansion.replayed:
            tokens = expansion.usage.prompt_tokens + expansion.usage.output_tokens
            self._prepaid[plan_id] = (tokens, expansion.cost_usd)
            self._spent_tokens += tokens
            self._spent_cost += expansion.cost_usd
            self._check_caps()
        return ready

    def _failed(self, task_id: str, started: float, error: str) -> TaskRecord:
        return TaskRecord(
            task_id=task_id,
            status="failed",
            started_at=started,
            finished_at=self._elapsed(),
            error=error,
            attempts=1,
        )


class _Completions:
    """Tasks in the order they finished, for the run loop to take in batches.

    What an `asyncio.Queue` with one reader does (a future to wait on when empty, woken
    by the first task to finish), without its bookkeeping for many readers and writers.
    """

    __slots__ = ("_done", "_waiter")

    def __init__(self) -> None:
        self._done: list[asyncio.Task[TaskRecord]] = []
        self._waiter: asyncio.Future[None] | None = None

    def add(self, task: asyncio.Task[TaskRecord]) -> None:
        """A task's done callback."""
        self._done.append(task)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Return once a finished task is waiting to be taken (at once if one is)."""
        while not self._done:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def take(self) -> list[asyncio.Task[TaskRecord]]:
        """Every finished task not taken yet, oldest first."""
        done, self._done = self._done, []
        return done


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 4000 else text[:4000] + "..."
