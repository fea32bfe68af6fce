"""B1: a request-rate limiter at RPM in front of the SDK (default 2 retries); no tokens.

`aiolimiter.AsyncLimiter` reads `loop.time()`, so it works under virtual time as is.
`asyncio_throttle.Throttler` reads `time.monotonic()`, which virtual time does not move:
the variant uses `agents.estimate.ClockThrottler`, dagwright's subclass of it whose clock
is the event loop's (and which sleeps until a slot frees instead of polling).
"""

from __future__ import annotations

from typing import Literal

from aiolimiter import AsyncLimiter

from agents.estimate import ClockThrottler
from benchmarks.systems.base import (
    RunContext,
    SystemOutcome,
    prime_sdk,
    run_as_ready,
    sdk_kwargs,
)
from benchmarks.workloads import BenchNode

__all__ = ["run_limited"]

SDK_DEFAULT_RETRIES = 2


async def run_limited(
    ctx: RunContext, *, limiter: Literal["aiolimiter", "throttle"]
) -> SystemOutcome:
    """Send nodes as they become ready, at most RPM requests a minute."""
    rpm = ctx.setup.client_limits.rpm
    gate: AsyncLimiter | ClockThrottler
    gate = AsyncLimiter(rpm, 60.0) if limiter == "aiolimiter" else ClockThrottler(rpm, 60.0)
    client = prime_sdk(
        ctx.emulator.anthropic(max_retries=SDK_DEFAULT_RETRIES, http_client=ctx.http_client())
    )

    async def call(node: BenchNode) -> None:
        async with gate:  # takes a slot; both limiters release nothing on exit
            await client.messages.create(**sdk_kwargs(ctx, node))

    try:
        lost = await run_as_ready(ctx, call)
    finally:
        await client.close()
    return SystemOutcome(lost=lost, notes={"limiter": limiter, "rpm": rpm})
