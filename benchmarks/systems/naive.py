"""B0: naive `asyncio.gather` over ready nodes with the SDK's own retries (what most write).

The SDK retries 429s after `retry-after`; with its default 2 retries a storm of 429s loses
tasks, with 10 it mostly gets through.
"""

from __future__ import annotations

from benchmarks.systems.base import (
    RunContext,
    SystemOutcome,
    prime_sdk,
    run_as_ready,
    sdk_kwargs,
)
from benchmarks.workloads import BenchNode

__all__ = ["run_naive"]


async def run_naive(ctx: RunContext, *, retries: int) -> SystemOutcome:
    """Send every node as soon as its dependencies are done; SDK retries `retries`."""
    client = prime_sdk(ctx.emulator.anthropic(max_retries=retries, http_client=ctx.http_client()))

    async def call(node: BenchNode) -> None:
        await client.messages.create(**sdk_kwargs(ctx, node))

    try:
        lost = await run_as_ready(ctx, call)
    finally:
        await client.close()
    return SystemOutcome(lost=lost, notes={"sdk_retries": retries})
