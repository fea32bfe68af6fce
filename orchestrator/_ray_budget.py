"""The lease RPC of the Ray executor: one in-memory `Budget` in a broker actor, leased remotely.

Used when `--executor ray` runs without a Redis budget: every worker actor takes its
leases from the same `LeaseBroker` (a Ray async actor holding one `Budget`), so the
cluster as a whole stays under the run's limits; nothing is admitted without a grant
(no fail-open). A worker actor that dies holding leases is cleaned up by the driver
(`release_owner`): its leases end as releases (nothing refunded, like any lost call).

`RemoteBudget` is the worker-side stand-in for `Budget` that `BudgetedCaller` uses: it has
`mode`, `clock`, `lease(...)` and `resize(...)`, and its leases forward `settle`, `report_error`,
`progress` and `observe` to the broker. Neither class imports Ray: the driver wraps
`LeaseBroker` with `ray.remote`, and `RemoteBudget` only calls the handle it is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from agents.errors import ErrorKind, LLMError
from agents.ratelimit import RateLimitSnapshot
from agents.usage import Usage
from orchestrator.budget import Budget, BudgetError, Lease, LeaseState
from orchestrator.clock import Clock, LoopClock
from orchestrator.limits import AccountingMode, ModelLimits

__all__ = ["LeaseBroker", "RemoteBudget", "RemoteBudgetError"]


class RemoteBudgetError(BudgetError):
    """A budget error raised in the broker (spend limit, request too large), re-raised here."""


@dataclass(frozen=True, kw_only=True, slots=True)
class _Grant:
    max_tokens: int = 0
    error: str | None = None


def _error_fields(error: LLMError) -> dict[str, Any]:
    """`LLMError` as plain data (its constructor takes keywords, so it does not pickle)."""
    return {
        "kind": error.kind.value,
        "message": error.message,
        "request_id": error.request_id,
        "status_code": error.status_code,
        "retry_after": error.retry_after,
        "limit": error.limit,
        "error_code": error.error_code,
        "ratelimit": error.ratelimit,
        "partial_output_tokens": error.partial_output_tokens,
    }


def _error_from(fields: dict[str, Any]) -> LLMError:
    data = dict(fields)
    kind = ErrorKind(data.pop("kind"))
    message = data.pop("message")
    return LLMError(kind, message, **data)


class LeaseBroker:
    """Holds the run's `Budget`; grants leases to worker actors by key (a Ray actor)."""

    def __init__(
        self,
        limits: dict[str, ModelLimits] | None,
        *,
        mode: AccountingMode = "actual",
        policy: str = "critical_path",
    ) -> None:
        self.budget = Budget(limits, mode=mode, policy=policy)
        self._leases: dict[str, tuple[str, Lease]] = {}
        self._abandoned: set[str] = set()
        self._dead: set[str] = set()

    async def acquire(self, owner: str, key: str, task_id: str, kwargs: dict[str, Any]) -> _Grant:
        """Wait for admission; the grant's `max_tokens` is what the caller must send."""
        try:
            lease = await self.budget.acquire(task_id, **kwargs)
        except BudgetError as exc:
            return _Grant(error=str(exc))
        if key in self._abandoned or owner in self._dead:
            # The asker gave up (cancelled, or its actor died) while this waited.
            self._abandoned.discard(key)
            lease.release()
            return _Grant(max_tokens=lease.max_tokens)
        self._leases[key] = (owner, lease)
        return _Grant(max_tokens=lease.max_tokens)

    def settle(self, key: str, usage: Usage, snapshot: RateLimitSnapshot | None) -> None:
        """Settle lease `key` with the response's usage (and rate-limit headers)."""
        found = self._leases.pop(key, None)
        if found is not None:
            found[1].settle(usage, snapshot)

    def report_error(self, key: str, error: dict[str, Any]) -> None:
        """Tell the budget that the call of lease `key` failed (a 429 pauses everyone)."""
        found = self._leases.get(key)
        if found is not None:
            found[1].report_error(_error_from(error))

    def progress(self, key: str, output_tokens: int) -> None:
        """Output produced so far by the streaming call of lease `key`."""
        found = self._leases.get(key)
        if found is not None:
            found[1].progress(output_tokens)

    def observe(self, key: str, snapshot: RateLimitSnapshot) -> None:
        """Resync from the rate-limit headers seen by the call of lease `key`."""
        found = self._leases.get(key)
        if found is not None:
            found[1].observe(snapshot)

    def resize(
        self, model: str, key: str, *, output_tokens: int, max_tokens: int | None = None
    ) -> None:
        """`Budget.resize`: waiting leases tagged `key` take the learned output size."""
        self.budget.resize(model, key, output_tokens=output_tokens, max_tokens=max_tokens)

    def release(self, key: str) -> None:
        """End lease `key` without usage (or drop its grant when it comes, if still waiting)."""
        found = self._leases.pop(key, None)
        if found is None:
            self._abandoned.add(key)
        elif found[1].state is LeaseState.ACTIVE:
            found[1].release()

    def release_owner(self, owner: str) -> int:
        """Release every lease a dead worker actor held (and any it still waits for).

        Returns how many granted leases were released.
        """
        self._dead.add(owner)
        keys = [k for k, (o, _) in self._leases.items() if o == owner]
        for key in keys:
            self.release(key)
        return len(keys)

    def open_leases(self) -> int:
        """Leases granted and not yet settled or released."""
        return len(self._leases)


class RemoteLease:
    """A lease granted by the broker; the methods `BudgetedCaller` uses, forwarded to it."""

    def __init__(self, broker: Any, key: str, max_tokens: int) -> None:
        self._broker = broker
        self.key = key
        self.max_tokens = max_tokens
        self.open = True

    def settle(self, usage: Usage, snapshot: RateLimitSnapshot | None = None) -> None:
        """Settle with the real usage (sent to the broker; ordered before the release)."""
        self.open = False
        self._broker.settle.remote(self.key, usage, snapshot)

    def report_error(self, error: LLMError) -> None:
        """Report the call's failure to the shared budget."""
        self._broker.report_error.remote(self.key, _error_fields(error))

    def progress(self, output_tokens: int) -> None:
        """Report a stream's output so far."""
        self._broker.progress.remote(self.key, output_tokens)

    def observe(self, snapshot: RateLimitSnapshot) -> None:
        """Resync from rate-limit headers."""
        self._broker.observe.remote(self.key, snapshot)

    def release(self) -> None:
        """End without usage."""
        if self.open:
            self.open = False
            self._broker.release.remote(self.key)


class _RemoteLeaseContext:
    def __init__(self, budget: RemoteBudget, task_id: str, kwargs: dict[str, Any]) -> None:
        self._budget = budget
        self._task_id = task_id
        self._kwargs = kwargs
        self._lease: RemoteLease | None = None

    async def __aenter__(self) -> RemoteLease:
        budget = self._budget
        key = f"{budget.owner}:{next(budget.counter)}"
        ref = budget.broker.acquire.remote(budget.owner, key, self._task_id, self._kwargs)
        try:
            grant: _Grant = await ref
        except asyncio.CancelledError:
            budget.broker.release.remote(key)
            raise
        if grant.error is not None:
            raise RemoteBudgetError(grant.error)
        self._lease = RemoteLease(budget.broker, key, grant.max_tokens)
        return self._lease

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._lease is not None:
            with contextlib.suppress(Exception):
                self._lease.release()


class RemoteBudget:
    """The worker-side face of the broker's budget (what `BudgetedCaller` needs of `Budget`)."""

    def __init__(
        self, broker: Any, *, owner: str, mode: AccountingMode, clock: Clock | None = None
    ) -> None:
        self.broker = broker
        self.owner = owner
        self.mode: AccountingMode = mode
        self.clock: Clock = clock if clock is not None else LoopClock()
        self.counter = itertools.count(1)

    def lease(self, task_id: str, **kwargs: Any) -> _RemoteLeaseContext:
        """`async with budget.lease(...) as lease:`, admitted by the broker.

        Takes `Budget.lease`'s keyword arguments (`model`, `input_tokens`, `max_tokens`,
        ...) and hands them to the broker's `Budget.acquire` unchanged.
        """
        return _RemoteLeaseContext(self, task_id, kwargs)

    def resize(
        self, model: str, key: str, *, output_tokens: int, max_tokens: int | None = None
    ) -> None:
        """Re-size waiting leases tagged `key` (what this actor learned about their output)."""
        self.broker.resize.remote(model, key, output_tokens=output_tokens, max_tokens=max_tokens)

    async def aclose(self) -> None:
        """Nothing to close (the broker belongs to the driver)."""
