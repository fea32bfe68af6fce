"""The Ray execution backend: worker jobs run on Ray async actors, one per cluster node.

The driver keeps the runner, the journal, the reuse cache and the hooks. For each model
task it renders the `WorkerJob` (as the local executor does) and sends it to the least
busy `WorkerActor`; the actor runs it with its own client and budget and sends back the
result with the turns and tool calls it made, which the driver journals and reports.

Budget: with a Redis URL (`--budget-url`) every actor leases from the Redis budget;
without one, from a `LeaseBroker` actor that holds the run's one in-memory budget (a
lease RPC). Either way no call is sent without a lease: the cluster never exceeds the
limits that a local run would keep to.

Backend: the actors call `base_url` with the key from their own `ANTHROPIC_API_KEY`. The
built-in emulator is served on loopback for them (so it only suits a one-node cluster);
for several machines point `--base-url` at a `dagwright emulator` they can reach, or
use the real API.

Failures: when an actor dies (killed, out of memory, its node lost) its tasks are sent
again to another actor, and a replacement is started on the same node. The lost try
counts as an attempt of the task; after `max_resubmits` lost tries the task fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any, cast

from agents.anthropic_client import AnthropicClient
from agents.client import LLMClient
from agents.worker import WorkerJob
from orchestrator._ray_actor import ActorOutcome, ActorSetup, WorkerActor
from orchestrator._ray_budget import LeaseBroker, RemoteBudget
from orchestrator.budget import Budget
from orchestrator.config_errors import ConfigError, ConfigIssue
from orchestrator.executors import ExecutionContext, ExecutorChoice
from orchestrator.runner import Executor, TaskContext, TaskOutput
from orchestrator.workflow_exec import WorkflowExecutor

__all__ = ["ActorLost", "RayExecutor"]


class ActorLost(RuntimeError):
    """A task whose actor died more often than `max_resubmits` allows."""


@dataclass(kw_only=True)
class _Slot:
    node_id: str
    owner: str
    handle: Any
    inflight: int = 0
    alive: bool = True


def _issue(where: str, message: str, hint: str) -> ConfigError:
    return ConfigError([ConfigIssue(file=None, line=None, path=where, message=message, hint=hint)])


class RayExecutor:
    """Runs worker jobs on Ray actors; `wrap` gives the runner's executor (see module doc)."""

    def __init__(self, choice: ExecutorChoice, context: ExecutionContext) -> None:
        self.choice = choice
        self.context = context
        self.description = "ray"
        self.slots: list[_Slot] = []
        self.broker: Any = None
        self.lost = 0
        self._owns_ray = False
        self._server: Any = None
        self._spawned = 0
        self._base_url: str | None = None
        self._nodes: list[str] = []
        self._driver_client: AnthropicClient | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Join (or start) the cluster, serve the emulator if needed, start the actors."""
        import ray

        if not ray.is_initialized():
            try:
                ray.init(
                    address=self.choice.ray_address,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                )
            except Exception as exc:
                raise _issue(
                    "--ray-address",
                    f"cannot join the Ray cluster at {self.choice.ray_address or '(local)'}: {exc}",
                    "start it with `ray start --head` and pass its address (or `auto` on one "
                    "of its nodes); drop --ray-address to start a local Ray instance",
                ) from None
            self._owns_ray = True
        try:
            self._nodes = sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))
            self._base_url = self._backend_url()
            if self.context.budget_url is None:
                broker_cls = ray.remote(LeaseBroker)
                self.broker = broker_cls.options(num_cpus=0, max_concurrency=100_000).remote(
                    dict(self.context.limits) if self.context.limits else None,
                    mode=self.context.mode,
                    policy=self.context.policy,
                )
            for node in self._nodes:
                for _ in range(self.choice.actors_per_node):
                    self.slots.append(self._spawn(node, soft=False))
            await self._ready()
        except BaseException:
            await self.aclose()
            raise
        where = self.choice.ray_address or "a local Ray instance"
        budget = "Redis budget" if self.context.budget_url else "budget leased from a broker actor"
        self.description = (
            f"ray ({len(self.slots)} actor(s) on {len(self._nodes)} node(s) of {where}; {budget})"
        )

    async def _ready(self) -> None:
        """Wait until every actor has built its client and budget; a clear error if one can't."""
        from ray.exceptions import RayError, RayTaskError

        try:
            await asyncio.gather(*(slot.handle.ready.remote() for slot in self.slots))
        except RayError as exc:
            cause = exc.cause if isinstance(exc, RayTaskError) else exc
            raise _issue(
                "--executor",
                f"a Ray worker actor could not start: {cause}",
                "every node needs dagwright installed (pip install 'dagwright[ray]'), "
                "ANTHROPIC_API_KEY set where `ray start` ran (for the API), and the "
                "`redis` package with --budget-url",
            ) from None

    def _backend_url(self) -> str | None:
        backend = self.context.backend
        emulator = getattr(backend, "emulator", None)
        if emulator is not None:
            if len(self._nodes) > 1:
                raise _issue(
                    "--executor",
                    f"the built-in emulator listens on this machine's loopback only, and the "
                    f"Ray cluster has {len(self._nodes)} nodes",
                    "start `dagwright emulator --host 0.0.0.0` on a machine the nodes reach and "
                    "pass its URL with --base-url, or use the real API",
                )
            from orchestrator.emulator import BackgroundServer

            self._server = BackgroundServer(emulator.config).start()
            return str(self._server.base_url)
        client = getattr(backend, "client", None)
        if isinstance(client, AnthropicClient):
            return str(client.base_url)
        raise _issue(
            "--executor",
            f"the ray executor needs an HTTP backend, got {type(client).__name__}",
            "use the API, a `dagwright emulator` URL (--base-url) or the built-in emulator",
        )

    def _spawn(self, node: str, *, soft: bool) -> _Slot:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self._spawned += 1
        context = self.context
        # Named, so operators (and tests) can find a run's actors: `ray list actors`.
        owner = f"dagwright/{context.run_id}/worker-{self._spawned}"
        setup = ActorSetup(
            owner=owner,
            base_url=self._base_url,
            limits=dict(context.limits) if context.limits else None,
            mode=context.mode,
            policy=context.policy,
            budget_url=context.budget_url,
            namespace=context.budget_namespace,
            expected_processes=max(
                context.budget_processes, len(self._nodes) * self.choice.actors_per_node
            ),
            seed=context.seed,
            extra_paths=(str(context.base_dir),) if context.base_dir is not None else (),
            broker=self.broker,
            cache_warm_first=context.cache_warm_first,
            output_priors={kind: tuple(sizes) for kind, sizes in context.output_priors.items()},
        )
        actor_cls = ray.remote(WorkerActor)
        handle = actor_cls.options(
            num_cpus=0,
            max_concurrency=self.choice.max_concurrency,
            name=owner,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node, soft=soft),
        ).remote(setup)
        return _Slot(node_id=node, owner=owner, handle=handle)

    async def aclose(self) -> None:
        """Close and stop the actors, the broker, the emulator server and a Ray we started."""
        import ray

        slots, self.slots = self.slots, []
        alive = [s for s in slots if s.alive]
        if alive:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await asyncio.gather(
                        *(s.handle.aclose.remote() for s in alive), return_exceptions=True
                    )
        for slot in alive:
            with contextlib.suppress(Exception):
                ray.kill(slot.handle)
        if self.broker is not None:
            with contextlib.suppress(Exception):
                ray.kill(self.broker)
            self.broker = None
        if self._driver_client is not None:
            await self._driver_client.aclose()
            self._driver_client = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._owns_ray:
            self._owns_ray = False
            ray.shutdown()

    # -- running jobs ----------------------------------------------------------------------

    def _pick(self) -> _Slot:
        alive = [s for s in self.slots if s.alive]
        if not alive:
            raise ActorLost("no live worker actor is left")
        return min(alive, key=lambda s: s.inflight)

    def _replace(self, slot: _Slot) -> None:
        if not slot.alive:
            return  # another task saw this death first and replaced it
        import ray

        slot.alive = False
        self.lost += 1
        with contextlib.suppress(Exception):
            # Dead, or only unreachable for now: either way it gets no more work.
            ray.kill(slot.handle)
        if self.broker is not None:
            self.broker.release_owner.remote(slot.owner)
        # Same node if it is still there; anywhere otherwise.
        self.slots.append(self._spawn(slot.node_id, soft=True))

    async def run_job(
        self, job: WorkerJob, transcript: list[dict[str, Any]] | None, ctx: TaskContext
    ) -> tuple[ActorOutcome, int]:
        """Run `job` on an actor; returns its outcome and how many tries were lost."""
        import ray
        from ray.exceptions import RayActorError, WorkerCrashedError

        lost = 0
        while True:
            slot = self._pick()
            slot.inflight += 1
            ref = slot.handle.run.remote(job, transcript)
            try:
                outcome: ActorOutcome = await ref
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    ray.cancel(ref)
                raise
            except (RayActorError, WorkerCrashedError) as exc:
                self._replace(slot)
                lost += 1
                reason = f"worker actor lost: {type(exc).__name__}"
                if lost > self.choice.max_resubmits:
                    raise ActorLost(
                        f"task {ctx.task_id!r}: {reason}; sent {lost} time(s), every actor "
                        f"running it died (max_resubmits={self.choice.max_resubmits})"
                    ) from None
                ctx.events.emit("task.retry", ctx.task_id, attempt=lost + 1, reason=reason)
                continue
            finally:
                slot.inflight -= 1
            return outcome, lost

    def driver_calls(self, client: LLMClient, budget: Budget) -> tuple[LLMClient, Budget]:
        """The driver's own calls (plan tasks) go where the actors' go, under their budget."""
        if self._server is not None:
            # The actors call the served emulator: so must the driver (one rate-limit state).
            self._driver_client = AnthropicClient(base_url=self._base_url)
            client = self._driver_client
        if self.broker is not None:
            remote = RemoteBudget(self.broker, owner="driver", mode=self.context.mode)
            budget = cast(Budget, remote)
        return client, budget

    def wrap(self, executor: Executor) -> Executor:
        """The runner's executor: model tasks go to the actors (steps stay in the driver)."""
        if not isinstance(executor, WorkflowExecutor):
            raise TypeError(
                f"the ray executor wraps a WorkflowExecutor, got {type(executor).__name__}"
            )
        return _RemoteTasks(executor, self)


class _RemoteTasks:
    """`WorkflowExecutor.__call__` with the worker's run sent to an actor."""

    def __init__(self, inner: WorkflowExecutor, pool: RayExecutor) -> None:
        self.inner = inner
        self.pool = pool

    async def __call__(self, ctx: TaskContext) -> TaskOutput:
        inner = self.inner
        if ctx.node.kind == "plan":
            # Planning stays in the driver (it splices the plan into the graph there); the
            # tasks it plans are ordinary jobs and go to the actors.
            return await inner(ctx)
        job = inner.job(ctx)
        key = inner.content_hash(job)
        if inner.reuse is not None:
            hit = inner.reuse.find(key)
            if hit is not None:
                return TaskOutput(
                    output=hit.output, data=hit.data, attempts=0, model=hit.model, content_hash=key
                )
        journal = ctx.journal
        transcript = None
        if journal is not None:
            turns = journal.transcript(ctx.task_id)
            transcript = turns[-1] if turns else None
        outcome, lost = await self.pool.run_job(job, transcript, ctx)
        # The actor's callbacks, replayed in order: journal turns, then the run's hooks;
        # its caller's events (budget waits, errors, retries) go to the run's event log
        # (timed on arrival: the actor's clock is not the driver's).
        for callback in outcome.callbacks:
            if callback.kind == "event":
                ctx.events.emit(callback.name, ctx.task_id, **callback.data)
            elif callback.kind == "turn":
                if journal is not None:
                    text = json.dumps(callback.messages, default=str)
                    journal.append_turn(ctx.task_id, callback.turn - 1, text)
                if inner.turn_hook is not None:
                    await inner.turn_hook(ctx.task_id, callback.turn, callback.messages)
            elif callback.call is not None and inner.tool_hook is not None:
                await inner.tool_hook(ctx.task_id, callback.call)
        if outcome.failure is not None:
            raise outcome.failure.exception()
        result = outcome.result
        assert result is not None  # an outcome holds a result or a failure
        return TaskOutput(
            content_hash=key,
            output=result.output,
            data=result.data,
            usage=result.usage,
            cost_usd=result.cost_usd,
            attempts=result.attempts + lost,
            model=result.model,
            waited_s=result.waited_s,
        )
