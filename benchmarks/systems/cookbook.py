"""B2: the OpenAI cookbook's parallel processor scheme (`api_request_parallel_processor.py`).

One request bucket at RPM and one combined token bucket charging prompt + `max_tokens`
at send time with no refund, both refilling continuously up to one minute's worth; after
any 429 every sender pauses until 15 s after it; a failed request goes back in the queue
with up to 5 attempts in all, then is lost. Prompt tokens are counted the way the
cookbook does it, locally (here the emulator's published 4-bytes-a-token rule). The token
limit is the API's combined `tokens` limit, input + output (ITPM + OTPM).

The cookbook polls every millisecond; this does the same arithmetic but sleeps until the
moment the head of the queue fits, so it runs in virtual time without burning CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque

import anthropic

from benchmarks.systems.base import (
    RunContext,
    SystemOutcome,
    prime_sdk,
    sdk_kwargs,
    wait_release,
)
from benchmarks.workloads import BenchNode
from orchestrator.emulator.tokens import BYTES_PER_TOKEN

__all__ = ["run_cookbook"]

PAUSE_AFTER_RATE_LIMIT_S = 15.0
MAX_ATTEMPTS = 5


class _Bucket:
    def __init__(self, per_minute: float, now: float) -> None:
        self.capacity = per_minute
        self.rate = per_minute / 60.0
        self.level = per_minute
        self.updated = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    def wait(self, amount: float) -> float:
        deficit = min(amount, self.capacity) - self.level
        # float slack: a deficit of a millionth of a token is none (the clock has 1 us ticks)
        return deficit / self.rate if deficit > 1e-6 else 0.0


async def run_cookbook(ctx: RunContext) -> SystemOutcome:
    """Run the workload through the cookbook's scheduler (dependencies feed its queue)."""
    loop = asyncio.get_running_loop()
    limits = ctx.setup.client_limits
    client = prime_sdk(ctx.emulator.anthropic(max_retries=0, http_client=ctx.http_client()))
    nodes = {node.id: node for node in ctx.workload.nodes}
    waiting_on = {node.id: len(node.deps) for node in ctx.workload.nodes}
    dependants: dict[str, list[str]] = {node_id: [] for node_id in nodes}
    for node in ctx.workload.nodes:
        for dep in node.deps:
            dependants[dep].append(node.id)
    fresh: deque[tuple[str, int]] = deque()
    arriving = 0  # ready nodes waiting for their `release_at`
    retries: deque[tuple[str, int]] = deque()  # served before fresh requests, as there
    requests = _Bucket(limits.rpm, loop.time())
    tokens = _Bucket(limits.itpm + limits.otpm, loop.time())
    last_rate_limit = -math.inf
    in_flight = 0
    lost: set[str] = set()
    wake = asyncio.Event()

    def needed(node: BenchNode) -> int:
        prompt = math.ceil(len(ctx.prompts[node.id].encode()) / BYTES_PER_TOKEN)
        # the shared system prefix counts too: the cookbook knows nothing of prompt caching
        return prompt + node.shared_prefix_tokens + node.max_tokens

    def lose(node_id: str, why: str) -> None:
        lost.add(node_id)
        ctx.trace.mark(node_id, why)
        for child in dependants[node_id]:
            if child not in lost:
                lose(child, "skipped")

    async def arrive(node_id: str) -> None:
        nonlocal arriving
        await wait_release(ctx, nodes[node_id])
        arriving -= 1
        fresh.append((node_id, MAX_ATTEMPTS))
        wake.set()

    def ready(node_id: str) -> None:
        nonlocal arriving
        if ctx.started_at + nodes[node_id].release_at <= loop.time():
            fresh.append((node_id, MAX_ATTEMPTS))
            return
        arriving += 1
        task = loop.create_task(arrive(node_id))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def send(node_id: str, attempts_left: int) -> None:
        nonlocal in_flight, last_rate_limit
        try:
            await client.messages.create(**sdk_kwargs(ctx, nodes[node_id]))
        except anthropic.APIStatusError as error:
            if isinstance(error, anthropic.RateLimitError):
                last_rate_limit = loop.time()
            if attempts_left > 1:
                retries.append((node_id, attempts_left - 1))
            else:
                lose(node_id, f"lost {type(error).__name__}")
        else:
            ctx.trace.mark(node_id, "done")
            for child in dependants[node_id]:
                waiting_on[child] -= 1
                if waiting_on[child] == 0 and child not in lost:
                    ready(child)
        finally:
            in_flight -= 1
            wake.set()

    tasks: set[asyncio.Task[None]] = set()
    for node in ctx.workload.nodes:
        if not node.deps:
            ready(node.id)
    try:
        while fresh or retries or in_flight or arriving:
            now = loop.time()
            pause = last_rate_limit + PAUSE_AFTER_RATE_LIMIT_S - now
            delay: float | None = None
            if pause > 0:
                delay = pause
            elif fresh or retries:
                queue = retries if retries else fresh
                requests.refill(now)
                tokens.refill(now)
                node_id, attempts_left = queue[0]
                need = needed(nodes[node_id])
                delay = max(requests.wait(1), tokens.wait(need))
                if delay <= 0:
                    queue.popleft()
                    requests.level -= 1
                    tokens.level -= need
                    in_flight += 1
                    task = loop.create_task(send(node_id, attempts_left))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    continue
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), delay)
    finally:
        await client.close()
    return SystemOutcome(lost=frozenset(lost), notes={"token_limit": limits.itpm + limits.otpm})
