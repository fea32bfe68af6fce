"""Helpers shared by the budget tests: snapshots, usages, a stepping clock."""

from __future__ import annotations

import asyncio
import heapq
import itertools

from agents.ratelimit import BucketReading, RateLimitSnapshot
from agents.usage import Usage
from orchestrator.budget import Lease, ModelAccount, RampConfig
from orchestrator.limits import AccountingMode, ModelLimits
from policies import FifoPolicy, SplitPolicy

SONNET = "claude-sonnet-5"
LIMITS = ModelLimits(rpm=60, itpm=30_000, otpm=6_000)


def snapshot(
    *,
    requests: tuple[int | None, int | None] = (None, None),
    input_tokens: tuple[int | None, int | None] = (None, None),
    output_tokens: tuple[int | None, int | None] = (None, None),
    retry_after: float | None = None,
) -> RateLimitSnapshot:
    """A snapshot from (limit, remaining) pairs."""

    def reading(pair: tuple[int | None, int | None]) -> BucketReading:
        return BucketReading(limit=pair[0], remaining=pair[1])

    return RateLimitSnapshot(
        requests=reading(requests),
        input_tokens=reading(input_tokens),
        output_tokens=reading(output_tokens),
        retry_after=retry_after,
    )


def usage(input_tokens: int, output_tokens: int) -> Usage:
    """A usage with no caching."""
    return Usage(input_tokens=input_tokens, output_tokens=output_tokens)


def account(
    limits: ModelLimits | None = LIMITS,
    *,
    mode: AccountingMode = "legacy",
    policy: SplitPolicy | None = None,
    ramp: RampConfig | None = None,
    now: float = 0.0,
) -> ModelAccount:
    """A pure-core account with ramping off unless asked for."""
    return ModelAccount(
        "sonnet-5",
        limits,
        mode=mode,
        policy=policy if policy is not None else FifoPolicy(),
        ramp=ramp if ramp is not None else RampConfig.off(),
        now=now,
    )


_seq = itertools.count(1)


def prepare(acct: ModelAccount, task_id: str, *, now: float = 0.0, **kwargs: object) -> Lease:
    """A lease prepared on `acct` with a fresh sequence number."""
    params: dict[str, object] = {"input_tokens": 1_000, "max_tokens": 500}
    params.update(kwargs)
    return acct.prepare(task_id=task_id, model=SONNET, seq=next(_seq), now=now, **params)  # type: ignore[arg-type]


class SteppingClock:
    """A clock for driving the async budget step by step: time moves only in `advance`.

    `sleep` parks the caller until the test advances past its deadline; `advance` wakes
    sleepers in deadline order and lets the loop run between them.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.t = 0.0
        self.sleeps = 0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._ids = itertools.count()

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        future: asyncio.Future[None] = self.loop.create_future()
        heapq.heappush(self._sleepers, (self.t + max(0.0, seconds), next(self._ids), future))
        await future

    def run_pending(self) -> None:
        """Let every ready callback (and the ones they schedule) run."""

        async def spin() -> None:
            for _ in range(20):
                await asyncio.sleep(0)

        self.loop.run_until_complete(spin())

    def advance(self, seconds: float) -> None:
        """Move time forward, waking sleepers at their deadlines on the way."""
        end = self.t + seconds
        while self._sleepers and self._sleepers[0][0] <= end:
            due, _, future = heapq.heappop(self._sleepers)
            self.t = max(self.t, due)
            if not future.done():
                future.set_result(None)
            self.run_pending()
        self.t = end
        self.run_pending()
