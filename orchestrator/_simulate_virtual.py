"""Running one coroutine in virtual time: a fresh `looptime` event loop per run.

Under `looptime` the loop's clock jumps straight to the next timer whenever nothing is
ready, so hours of rate-limited traffic take seconds, and the same code with the same
seeds replays the same schedule. Every wait in dagwright (budget, emulator, retries) goes
through the loop's clock, so nothing else needs to know. `noop_cycles` is how many idle
loop iterations looptime lets pass before it moves the clock; they exist for outside I/O
(threads, sockets) to land first. Simulations and benchmarks are in-process, so a small
number is enough and much faster than looptime's default of 42.

Shared by `dagwright simulate` and the benchmark suite (`benchmarks.virtual`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import looptime

__all__ = ["DEFAULT_NOOP_CYCLES", "VIRTUAL_END_S", "prime_sdk", "run_virtual"]

T = TypeVar("T")

DEFAULT_NOOP_CYCLES = 1
#: A run still going after this many virtual seconds is stuck: looptime then fails its tasks.
VIRTUAL_END_S = 7 * 24 * 3600.0


def run_virtual(
    factory: Callable[[], Awaitable[T]], *, noop_cycles: int = DEFAULT_NOOP_CYCLES
) -> T:
    """Run `factory()` to completion on a new looptime loop whose clock starts at 0."""
    loop = looptime.new_event_loop(start=0.0, end=VIRTUAL_END_S, noop_cycles=noop_cycles)
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(factory())
    finally:
        try:
            _cancel_leftovers(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def prime_sdk(sdk: Any) -> None:
    """Resolve the anthropic SDK's platform headers now, on this thread.

    The SDK resolves them on its first request in a worker thread. Under looptime a
    pending thread makes the virtual clock follow real time until it ends, so the first
    requests would leave at a moment that depends on thread scheduling: runs would stop
    being reproducible. (`_platform` is the SDK's private cache of that answer.)
    """
    from anthropic._base_client import get_platform

    if getattr(sdk, "_platform", None) is None:
        sdk._platform = get_platform()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
