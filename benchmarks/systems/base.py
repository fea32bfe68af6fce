"""What every system gets for one run, and the dependency-driven driver of the baselines."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2

from benchmarks.env import TASK_HEADER, ServerSetup, shared_prefix_text
from benchmarks.trace import Trace
from benchmarks.workloads import BenchNode, Workload
from orchestrator.emulator import Emulator


def prime_sdk(client: anthropic.AsyncAnthropic) -> anthropic.AsyncAnthropic:
    """Resolve the SDK's platform headers now, on this thread.

    The SDK resolves them on its first request in a worker thread. Under looptime a
    pending thread makes the virtual clock follow real time until it ends, so the first
    requests would leave at a moment that depends on thread scheduling: runs would stop
    being reproducible. (`_platform` is the SDK's private cache of that answer.)
    """
    from anthropic._base_client import get_platform

    if getattr(client, "_platform", None) is None:
        client._platform = get_platform()
    return client


__all__ = [
    "RunContext",
    "System",
    "SystemOutcome",
    "prime_sdk",
    "run_as_ready",
    "sdk_kwargs",
    "system_blocks",
    "wait_release",
]


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """One run: the workload, its prompts, the emulator, and the trace to fill."""

    workload: Workload
    prompts: Mapping[str, str]
    setup: ServerSetup
    emulator: Emulator
    trace: Trace
    seed: int
    started_at: float = 0.0
    """Clock time of the run's start: `BenchNode.release_at` counts from here."""

    def http_client(self) -> httpx2.AsyncClient:
        """An httpx2 client on the emulator whose every attempt lands in the trace."""
        return self.emulator.http_client(event_hooks=self.trace.hooks())


@dataclass(frozen=True, kw_only=True)
class SystemOutcome:
    """What a system reports about its run besides the trace: the tasks it lost."""

    lost: frozenset[str]
    notes: dict[str, Any] = field(default_factory=dict)


System = Callable[[RunContext], Awaitable[SystemOutcome]]


def sdk_kwargs(
    ctx: RunContext, node: BenchNode, *, max_tokens: int | None = None
) -> dict[str, Any]:
    """`messages.create` arguments for `node`, as a naive client sends them."""
    kwargs: dict[str, Any] = {
        "model": node.model,
        "max_tokens": node.max_tokens if max_tokens is None else max_tokens,
        "messages": [{"role": "user", "content": ctx.prompts[node.id]}],
        "metadata": {"emulator_output_tokens": node.output_tokens},
        "extra_headers": {TASK_HEADER: node.id},
    }
    system = system_blocks(node)
    if system is not None:
        kwargs["system"] = system
    return kwargs


def system_blocks(node: BenchNode) -> list[dict[str, Any]] | None:
    """The node's shared prefix as one system block marked for prompt caching (or None)."""
    if node.shared_prefix_tokens <= 0:
        return None
    return [
        {
            "type": "text",
            "text": shared_prefix_text(node.shared_prefix_tokens),
            "cache_control": {"type": "ephemeral"},
        }
    ]


async def wait_release(ctx: RunContext, node: BenchNode) -> None:
    """Sleep until `node` arrives (`release_at` seconds after the run's start)."""
    delay = ctx.started_at + node.release_at - ctx.trace.clock.now()
    if delay > 0:
        await asyncio.sleep(delay)


async def run_as_ready(
    ctx: RunContext, call: Callable[[BenchNode], Awaitable[None]]
) -> frozenset[str]:
    """`asyncio.gather` over every node, each starting once its dependencies are done
    and it has arrived (`release_at`).

    A node whose `call` raises an API error is lost, and so is everything downstream of
    it. Returns the lost node ids.
    """
    loop = asyncio.get_running_loop()
    finished: dict[str, asyncio.Future[bool]] = {
        node.id: loop.create_future() for node in ctx.workload.nodes
    }
    lost: set[str] = set()

    async def one(node: BenchNode) -> None:
        ok = True
        for dep in node.deps:
            ok = await finished[dep] and ok
        if not ok:
            lost.add(node.id)
            ctx.trace.mark(node.id, "skipped")
        else:
            try:
                await wait_release(ctx, node)
                await call(node)
            except anthropic.APIError as error:
                ok = False
                lost.add(node.id)
                ctx.trace.mark(node.id, f"lost {type(error).__name__}")
            else:
                ctx.trace.mark(node.id, "done")
        finished[node.id].set_result(ok)

    await asyncio.gather(*(one(node) for node in ctx.workload.nodes))
    return frozenset(lost)
