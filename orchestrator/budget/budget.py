"""`Budget`: the async shell around the per-model-class accounts.

The arithmetic lives in `ModelAccount` (pure). This shell adds what needs an event loop:
a future per waiting lease, and one timer per model class that sleeps on the injected
clock until the exact moment the head of the queue will fit (`ModelAccount.wake_time`).
Every event that can change that moment (a new lease, a settlement, a cancellation, a
resync, a 429) re-runs admission and moves the timer earlier if needed; a timer that
fires too early just re-arms. There is no polling and no busy waiting.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Coroutine, Mapping
from typing import Any

from agents.errors import ErrorKind, LLMError
from agents.ratelimit import RateLimitSnapshot
from agents.usage import Usage
from orchestrator.budget.account import ModelAccount
from orchestrator.budget.errors import SpendLimitReached
from orchestrator.budget.feedback import rate_limited, resync
from orchestrator.budget.lease import Lease, LeaseContext, LeaseState
from orchestrator.budget.ramp import BackoffConfig, RampConfig
from orchestrator.budget.stats import BudgetStatistics
from orchestrator.clock import Clock, LoopClock
from orchestrator.limits import AccountingMode, ModelLimits, model_class
from policies.registry import get_policy
from policies.split import SplitPolicy

__all__ = ["Budget"]

#: Timers sleep this much past the computed fit time, so float rounding (and looptime's
#: microsecond resolution) cannot wake them a hair too early, again and again.
_QUANTUM = 1e-6


class Budget:
    """The shared throughput budget of one API key: RPM, ITPM and OTPM per model class.

    `limits` is one `ModelLimits` for every model class, a mapping from model class (or
    model name) to `ModelLimits`, or None; classes without configured limits learn them
    from the first response's `-limit` headers, admitting one call at a time until then.
    `mode` is the server's output accounting: "actual" (output counted as generated; the
    budget reserves the expected output) or "legacy" (`max_tokens` reserved at admission).

    ```python
    budget = Budget(TIERS["tier2"], mode="legacy", policy="critical_path")
    async with budget.lease("summarise", model="claude-sonnet-5", input_tokens=12_000,
                            output_tokens=800, max_tokens=2_000, tail=42.0) as lease:
        response = await client.create(request_with(max_tokens=lease.max_tokens))
        lease.settle(response.usage, response.ratelimit)
    ```
    """

    def __init__(
        self,
        limits: ModelLimits | Mapping[str, ModelLimits] | None = None,
        *,
        mode: AccountingMode = "actual",
        policy: str | SplitPolicy = "critical_path",
        clock: Clock | None = None,
        ramp: RampConfig | None = None,
        backoff: BackoffConfig | None = None,
        max_tokens_cap: int | None = None,
    ) -> None:
        if mode not in ("actual", "legacy"):
            raise ValueError(f"mode must be 'actual' or 'legacy', got {mode!r}")
        if max_tokens_cap is not None and max_tokens_cap < 1:
            raise ValueError(f"max_tokens_cap must be >= 1 (or None), got {max_tokens_cap}")
        self._default: ModelLimits | None = None
        self._limits: dict[str, ModelLimits] = {}
        if isinstance(limits, ModelLimits):
            self._default = limits
        elif limits is not None:
            for key, value in limits.items():
                if not isinstance(value, ModelLimits):
                    raise TypeError(
                        f"limits[{key!r}] must be a ModelLimits, got {type(value).__name__}"
                    )
                self._limits[model_class(key) or key] = value
        self.mode: AccountingMode = mode
        self.policy = get_policy(policy)
        self.clock: Clock = clock if clock is not None else LoopClock()
        self.ramp = ramp if ramp is not None else RampConfig()
        self.backoff = backoff if backoff is not None else BackoffConfig()
        self.max_tokens_cap = max_tokens_cap
        self._accounts: dict[str, ModelAccount] = {}
        self._classes: dict[str, str] = {}
        self._timers: dict[str, tuple[asyncio.TimerHandle | asyncio.Task[None], float]] = {}
        self._seq = 0
        self._closed: SpendLimitReached | None = None
        # An org-wide pause (acceleration limit) also applies to classes created later.
        self._org_pause: tuple[float, float, float] | None = None

    def __repr__(self) -> str:
        return (
            f"Budget(mode={self.mode!r}, policy={self.policy.name!r}, "
            f"classes={sorted(self._accounts)})"
        )

    # -- accounts ----------------------------------------------------------------------

    def model_class(self, model: str) -> str:
        """The model class whose buckets `model` draws from (the model itself if unknown)."""
        name = self._classes.get(model)
        if name is None:
            name = model_class(model) or model
            self._classes[model] = name
        return name

    def account(self, model: str) -> ModelAccount:
        """The pure-core account of `model`'s class (created on first use)."""
        name = self.model_class(model)
        account = self._accounts.get(name)
        if account is None:
            now = self.clock.now()
            account = ModelAccount(
                name,
                self._limits.get(name, self._default),
                mode=self.mode,
                policy=self.policy,
                ramp=self.ramp,
                now=now,
            )
            if self._org_pause is not None and self._org_pause[0] > now:
                until, fraction, duration = self._org_pause
                account.pause(until, fraction=fraction, duration=duration)
            self._accounts[name] = account
        return account

    def limits(self, model: str) -> ModelLimits | None:
        """The limits in force for `model`'s class (configured or learned), if known."""
        account = self._accounts.get(self.model_class(model))
        if account is not None:
            return account.limits
        return self._limits.get(self.model_class(model), self._default)

    @property
    def spend_limit_reached(self) -> bool:
        """True once a spend-limit error was reported: every lease fails from then on."""
        return self._closed is not None

    # -- leases ------------------------------------------------------------------------

    def lease(
        self,
        task_id: str,
        *,
        model: str,
        input_tokens: int,
        max_tokens: int,
        output_tokens: int | None = None,
        priority: int = 0,
        tail: float = 0.0,
        group: str | None = None,
        weight: float = 1.0,
        sizing_key: str | None = None,
        lean_max_tokens: int | None = None,
    ) -> LeaseContext:
        """`async with budget.lease(...) as lease:` — wait for admission; see `acquire`."""
        return LeaseContext(
            self,
            task_id,
            {
                "model": model,
                "input_tokens": input_tokens,
                "max_tokens": max_tokens,
                "output_tokens": output_tokens,
                "priority": priority,
                "tail": tail,
                "group": group,
                "weight": weight,
                "sizing_key": sizing_key,
                "lean_max_tokens": lean_max_tokens,
            },
        )

    def _acquire_lease(self, context: LeaseContext) -> Coroutine[Any, Any, Lease]:
        # Returns `acquire`'s coroutine for the context to await: no wrapper coroutine.
        return self.acquire(context.task_id, **context.kwargs)

    async def acquire(
        self,
        task_id: str,
        *,
        model: str,
        input_tokens: int,
        max_tokens: int,
        output_tokens: int | None = None,
        priority: int = 0,
        tail: float = 0.0,
        group: str | None = None,
        weight: float = 1.0,
        sizing_key: str | None = None,
        lean_max_tokens: int | None = None,
    ) -> Lease:
        """Wait until every bucket of `model`'s class can cover the call; return its lease.

        `input_tokens`: estimated ITPM-counted input (cache reads excluded).
        `output_tokens`: expected output (default: `max_tokens`); reserved in actual mode.
        `max_tokens`: the most the caller would send; `lease.max_tokens` may be lower
        (capped by the policy and `max_tokens_cap`) and is what must be sent.
        `priority`, `tail` (seconds of DAG after this task), `group` and `weight` feed the
        split policy. `sizing_key` tags the lease for `resize` while it waits;
        `lean_max_tokens` (legacy) is the smaller size it goes with until its key has a
        sizing (`ModelAccount.prepare`). The caller
        must `settle` or `release` the lease (the context manager releases it). Raises
        `RequestTooLarge` at once for a call that could never fit, `SpendLimitReached` once
        the spend cap is hit.
        """
        if self._closed is not None:
            raise SpendLimitReached(self._closed.error)
        account = self.account(model)
        now = self.clock.now()
        self._seq += 1
        lease = account.prepare(
            task_id=task_id,
            model=model,
            seq=self._seq,
            now=now,
            input_tokens=input_tokens,
            max_tokens=max_tokens,
            output_tokens=output_tokens,
            priority=priority,
            tail=tail,
            group=group,
            weight=weight,
            max_tokens_cap=self.max_tokens_cap,
            sizing_key=sizing_key,
            lean_max_tokens=lean_max_tokens,
        )
        lease._owner = self
        if account.try_admit(lease, now):
            return lease
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lease._waiter = waiter
        account.enqueue(lease)
        self._schedule(account, now)
        try:
            await waiter
        except asyncio.CancelledError:
            # Cancelled while waiting, or admitted just before: either way take nothing.
            if lease.state is LeaseState.WAITING or lease.state is LeaseState.ACTIVE:
                account.withdraw(lease, self.clock.now())
                self._pump(account)
            raise
        return lease

    def resize(
        self, model: str, key: str, *, output_tokens: int, max_tokens: int | None = None
    ) -> None:
        """Re-size the waiting leases of `model` tagged `sizing_key=key` (see `resizing`).

        `output_tokens`: the expected output now; `max_tokens`: the `max_tokens` to send
        now (None keeps each lease's own). Neither lifts a lease above what its caller
        asked for. Leases pick the sizing up when they reach the head of the queue; in
        actual mode running leases give back their excess output at once
        (`ModelAccount.trim_running`).
        """
        account = self.account(model)
        account.resize(key, output_tokens=output_tokens, max_tokens=max_tokens)
        account.trim_running(key, self.clock.now())
        if account.waiting:
            self._pump(account)

    # -- admission machinery ---------------------------------------------------------------

    def _pump(self, account: ModelAccount) -> None:
        now = self.clock.now()
        while True:
            revoked = False
            for lease in account.admit(now):
                waiter, lease._waiter = lease._waiter, None
                if waiter is None or waiter.done():
                    # Its task was cancelled before we got here: give the grant back.
                    account.withdraw(lease, now)
                    revoked = True
                else:
                    waiter.set_result(None)
            if not revoked:
                break
        self._schedule(account, now)

    def _schedule(self, account: ModelAccount, now: float) -> None:
        at = account.wake_time(now)
        timer = self._timers.get(account.name)
        if at is None or math.isinf(at):
            if timer is not None:
                timer[0].cancel()
                del self._timers[account.name]
            return
        if timer is not None:
            if timer[1] <= at:
                return  # it fires early enough; when it does, it re-arms if still needed
            timer[0].cancel()
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | asyncio.Task[None]
        if type(self.clock) is LoopClock:
            # LoopClock sleeps with the loop's own timers: a TimerHandle on the same time line
            # does the same without a task per wake-up.
            handle = loop.call_at(at + _QUANTUM, self._fire, account)
        else:
            handle = loop.create_task(self._wake(account, at - now))
        self._timers[account.name] = (handle, at)

    def _fire(self, account: ModelAccount) -> None:
        # Superseded timers are cancelled, so a firing one is always the registered one.
        self._timers.pop(account.name, None)
        self._pump(account)

    async def _wake(self, account: ModelAccount, delay: float) -> None:
        await self.clock.sleep(delay + _QUANTUM)
        self._fire(account)

    # -- lease callbacks (through `Lease`) -------------------------------------------------

    def _settle_lease(self, lease: Lease, usage: Usage, snapshot: RateLimitSnapshot | None) -> None:
        account = self._accounts[lease.model_class]
        now = self.clock.now()
        returned = account.settle(
            lease, input_tokens=usage.itpm_tokens, output_tokens=usage.output_tokens, now=now
        )
        lease.usage = usage
        learned = snapshot is not None and self._resync(account, snapshot, now)
        # Without a refund the head cannot fit any earlier (its timer is already armed),
        # unless this was a probe of a class whose limits were unknown.
        if account.waiting and (returned or learned or not lease.charged):
            self._pump(account)

    def _release_lease(self, lease: Lease) -> None:
        account = self._accounts[lease.model_class]
        account.release(lease, self.clock.now())
        if account.waiting and not lease.charged:
            self._pump(account)  # the next probe of a class with unknown limits

    def _observe_lease(self, lease: Lease, snapshot: RateLimitSnapshot) -> None:
        self.observe(lease.model, snapshot)

    def _error_lease(self, lease: Lease, error: LLMError) -> None:
        self.report_error(lease.model, error, lease=lease)

    def _progress_lease(self, lease: Lease, output_tokens: int) -> None:
        self._accounts[lease.model_class].progress(lease, output_tokens)

    # -- feedback ----------------------------------------------------------------------

    def _resync(self, account: ModelAccount, snapshot: RateLimitSnapshot, now: float) -> bool:
        if not resync(account, snapshot, now):
            return False
        self._fail_too_large(account)
        return True

    def _fail_too_large(self, account: ModelAccount) -> None:
        for lease, error in account.remove_too_large():
            waiter, lease._waiter = lease._waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_exception(error)

    def observe(self, model: str, snapshot: RateLimitSnapshot) -> None:
        """Resync `model`'s class from a response's rate-limit headers (pull down only)."""
        account = self.account(model)
        self._resync(account, snapshot, self.clock.now())
        if account.waiting:
            self._pump(account)

    def report_error(self, model: str, error: LLMError, *, lease: Lease | None = None) -> None:
        """React to a failed call of `model` (pass its `lease` when there is one).

        RATE_LIMITED: resync from the error's headers, drain the bucket it names, pause the
        model class until `retry-after` (one pause however many 429s arrive), then ramp.
        ACCELERATION: pause every class (the limit is organisation-wide), ramp from low.
        SPEND_LIMIT: fail every waiting and future lease with `SpendLimitReached`.
        OVERLOADED: a short pause only if `BackoffConfig.overloaded_pause` > 0. Other kinds
        only resync from the headers they carry. The lease itself is not settled here.
        """
        if error.kind is ErrorKind.SPEND_LIMIT:
            self._close(SpendLimitReached(error))
            return
        account = self.account(model)
        now = self.clock.now()
        affected = [account]
        if error.kind is ErrorKind.RATE_LIMITED:
            if rate_limited(account, error, now, lease=lease, backoff=self.backoff):
                self._fail_too_large(account)
        else:
            if error.ratelimit is not None:
                self._resync(account, error.ratelimit, now)
            if error.kind is ErrorKind.ACCELERATION:
                account.rate_limited += 1
                pause = error.retry_after
                until = now + (pause if pause is not None else self.backoff.default_pause)
                cfg = self.ramp
                fraction, duration = cfg.acceleration_fraction, cfg.acceleration_duration
                self._org_pause = (until, fraction, duration)
                affected = list(self._accounts.values())
                for each in affected:
                    each.pause(until, fraction=fraction, duration=duration)
            elif error.kind is ErrorKind.OVERLOADED and self.backoff.overloaded_pause > 0:
                pause = error.retry_after
                if pause is None:
                    pause = self.backoff.overloaded_pause
                pause = min(pause, self.backoff.max_overloaded_pause)
                cfg = self.ramp
                account.pause(now + pause, fraction=cfg.start_fraction, duration=cfg.duration)
        for each in affected:
            if each.waiting:
                self._pump(each)

    def _close(self, error: SpendLimitReached) -> None:
        if self._closed is None:
            self._closed = error
        for account in self._accounts.values():
            for lease in account.fail_waiting():
                waiter, lease._waiter = lease._waiter, None
                if waiter is not None and not waiter.done():
                    waiter.set_exception(SpendLimitReached(error.error))
        for task, _ in self._timers.values():
            task.cancel()
        self._timers.clear()

    # -- inspection --------------------------------------------------------------------

    def statistics(self) -> BudgetStatistics:
        """A frozen snapshot of every model class's buckets, queues and counters."""
        now = self.clock.now()
        return BudgetStatistics(
            at=now,
            spend_limit_reached=self._closed is not None,
            classes=tuple(self._accounts[n].statistics(now) for n in sorted(self._accounts)),
        )
