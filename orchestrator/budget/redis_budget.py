"""`RedisBudget`: one throughput budget shared by several processes through Redis.

**Design.** A `RedisBudget` is a `Budget` (same leases, policies, ramp, coordinated
backoff, statistics) whose every admission additionally needs an atomic reservation in
Redis. Admission is two-stage:

1. *Local*: the in-memory `Budget` orders this process's waiters by the split policy and
   admits them against its own buckets (full capacity, pulled down by every response's
   headers), exactly as a single process would.
2. *Shared*: a locally admitted lease passes one gate per model class (a FIFO lock, so the
   policy order is kept) and runs the `RESERVE` Lua script, which refills the shared
   buckets on the Redis server's clock (`TIME`, clamped so it never goes backwards) and
   takes requests + input + output together, or refuses with the exact seconds until they
   fit. The gate sleeps that long and retries. A lease cancelled at the gate gives its
   local grant back.

**Fairness across processes.** A refused process joins a FIFO ticket queue (one ticket per
process and class, scored by arrival); only the head may take tokens while others wait, so
a process that asks often cannot starve one that asks rarely. A ticket whose holder does
not come back before its deadline (retry time + `ticket_grace_s`) is dropped; a process
whose last waiter is cancelled leaves the queue at once.

**Settlement.** A reservation is stored under `r:{id}`, id = process / task / attempt
(lease sequence), with a TTL (`reservation_ttl_s`). Settling refunds unused input/output
(or charges overshoot as debt) and deletes it, so a second settle finds nothing and is a
no-op; a release deletes it without a refund. A crashed holder's reservation simply
expires unrefunded (conservative).

**Resync.** Every response's `-remaining` headers also pull the *shared* bucket down
(`PULL_DOWN`), so one process seeing the server lower than the shared level corrects it
for all. A 429 sets a shared pause that the reserve script honours.

**Buckets that are new or lost** (first use, idle expiry, Redis restart) start at
`initial_fill` of capacity (default 0.5) the first time this process meets Redis, and
empty once this process has lost Redis: a restart cannot cause a burst.

**Redis unreachable.** Leases are admitted from a local fallback share (`FallbackShare`:
capacity / `expected_processes`, starting empty at each outage), never failing open;
Redis is probed again every `reconnect_s` and used as soon as it answers. Settlements
made while Redis is down are dropped (refunds lost: conservative).

Probe leases of a class whose limits are still unknown skip the shared stage (there is no
capacity to reserve against yet); they go one at a time per process, as in `Budget`.
`statistics()` is this process's local view; `counters` tells what the shared stage did.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from agents.errors import ErrorKind, LLMError
from agents.ratelimit import HeaderBucket, RateLimitSnapshot
from agents.usage import Usage
from orchestrator.budget._redis_link import FallbackShare, RedisLink, Unreachable
from orchestrator.budget._redis_scripts import keys_of
from orchestrator.budget.account import ModelAccount
from orchestrator.budget.budget import Budget
from orchestrator.budget.errors import SpendLimitReached
from orchestrator.budget.feedback import TOKEN_SLACK
from orchestrator.budget.lease import Lease, LeaseState
from orchestrator.budget.ramp import BackoffConfig, RampConfig
from orchestrator.clock import Clock
from orchestrator.limits import AccountingMode, ModelLimits
from policies.split import SplitPolicy

__all__ = ["RedisBudget", "SharedCounters"]

_HEADERS: tuple[HeaderBucket, ...] = ("requests", "input_tokens", "output_tokens")


@dataclass(kw_only=True)
class SharedCounters:
    """What the shared stage did in this process."""

    redis_grants: int = 0
    fallback_grants: int = 0
    refusals: int = 0
    outages: int = 0
    lost_settlements: int = 0


class RedisBudget(Budget):
    """A `Budget` whose admissions also reserve in a Redis-shared bucket (see module doc).

    ```python
    budget = RedisBudget("redis://127.0.0.1:6379/0", TIERS["tier2"], expected_processes=4)
    async with budget.lease("t1", model="claude-sonnet-5", input_tokens=9_000,
                            max_tokens=1_000) as lease:
        ...
    await budget.aclose()
    ```

    `url`: the Redis server (`redis://host:port/db`, `rediss://` for TLS). `namespace`
    prefixes every key: processes share a budget when they use the same namespace (one per
    API key). `expected_processes`: how many share it (each keeps 1/N while Redis is down).
    `reservation_ttl_s`: how long an unsettled reservation lives (longer than any call).
    `initial_fill`: what a new shared bucket starts with (fraction of capacity, < 1).
    `client`: an existing `redis.asyncio.Redis` to use instead of connecting to `url`.
    The other arguments are `Budget`'s.
    """

    def __init__(
        self,
        url: str,
        limits: ModelLimits | Mapping[str, ModelLimits] | None = None,
        *,
        mode: AccountingMode = "actual",
        policy: str | SplitPolicy = "critical_path",
        namespace: str = "dagwright",
        expected_processes: int = 1,
        reservation_ttl_s: float = 600,
        initial_fill: float = 0.5,
        ticket_grace_s: float = 2.0,
        min_poll_s: float = 0.005,
        reconnect_s: float = 0.5,
        socket_timeout_s: float = 1.0,
        clock: Clock | None = None,
        ramp: RampConfig | None = None,
        backoff: BackoffConfig | None = None,
        max_tokens_cap: int | None = None,
        client: Any = None,
    ) -> None:
        if expected_processes < 1:
            raise ValueError(f"expected_processes must be >= 1, got {expected_processes}")
        if not 0.0 <= initial_fill < 1.0:
            raise ValueError(
                f"initial_fill must be in [0, 1): a new shared bucket never starts full, "
                f"got {initial_fill}"
            )
        if reservation_ttl_s <= 0 or ticket_grace_s <= 0 or min_poll_s <= 0 or reconnect_s <= 0:
            raise ValueError(
                "reservation_ttl_s, ticket_grace_s, min_poll_s, reconnect_s must be > 0"
            )
        super().__init__(
            limits,
            mode=mode,
            policy=policy,
            clock=clock,
            ramp=ramp,
            backoff=backoff,
            max_tokens_cap=max_tokens_cap,
        )
        self.namespace = namespace
        self.expected_processes = expected_processes
        self.reservation_ttl_s = reservation_ttl_s
        self.initial_fill = initial_fill
        self.ticket_grace_s = ticket_grace_s
        self.min_poll_s = min_poll_s
        self.link = RedisLink(
            url, socket_timeout_s=socket_timeout_s, reconnect_s=reconnect_s, client=client
        )
        self.fallback = FallbackShare(expected_processes)
        self.counters = SharedCounters()
        self.process_id = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._gates: dict[str, asyncio.Lock] = {}
        self._at_gate: dict[str, int] = {}
        #: seq -> reservation id in Redis, or None when taken from the fallback share.
        self._held: dict[int, str | None] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._on_fallback = False

    def __repr__(self) -> str:
        return (
            f"RedisBudget({self.link.url!r}, namespace={self.namespace!r}, mode={self.mode!r}, "
            f"policy={self.policy.name!r}, classes={sorted(self._accounts)})"
        )

    @property
    def redis_available(self) -> bool:
        """Whether the last Redis call succeeded."""
        return self.link.down_until is None and self.link.seen_up

    def reserved_in(self, lease: Lease) -> str | None:
        """Where an active lease's shared reservation is: "redis", "fallback" or None."""
        if lease.request.seq not in self._held:
            return None
        return "fallback" if self._held[lease.request.seq] is None else "redis"

    # -- admission ---------------------------------------------------------------------

    async def acquire(self, task_id: str, **kwargs: Any) -> Lease:
        """Wait for local admission (`Budget.acquire`, same arguments), then for the shared
        reservation."""
        lease = await super().acquire(task_id, **kwargs)
        try:
            await self._reserve_shared(lease)
        except BaseException:
            if lease.state is LeaseState.ACTIVE:
                account = self._accounts[lease.model_class]
                account.withdraw(lease, self.clock.now())
                self._pump(account)
            raise
        return lease

    def _shape(self, account: ModelAccount) -> tuple[list[float], list[float]]:
        buckets = account.buckets
        assert buckets is not None
        return [b.capacity for b in buckets], [b.rate for b in buckets]

    async def _reserve_shared(self, lease: Lease) -> None:
        if not lease.charged:
            return
        name = lease.model_class
        gate = self._gates.setdefault(name, asyncio.Lock())
        self._at_gate[name] = self._at_gate.get(name, 0) + 1
        queued = False
        try:
            async with gate:
                while True:
                    if self._closed is not None:
                        raise SpendLimitReached(self._closed.error)
                    wait = await self._try_reserve(lease)
                    if wait is None:
                        return
                    queued = True
                    await self.clock.sleep(wait)
        finally:
            self._at_gate[name] -= 1
            if queued and self._at_gate[name] == 0 and lease.request.seq not in self._held:
                # The last waiter gave up: leave the FIFO queue instead of blocking it
                # until the ticket's deadline.
                self._spawn(self._drop_ticket(name))

    async def _drop_ticket(self, name: str) -> None:
        _, queue, deadlines, _ = keys_of(self.namespace, name)
        try:
            await self.link.run(
                self.link.drop_ticket, [queue, deadlines], [self.process_id], self.clock.now()
            )
        except Unreachable:
            return

    async def _try_reserve(self, lease: Lease) -> float | None:
        account = self._accounts[lease.model_class]
        caps, rates = self._shape(account)
        need = list(lease.reserved)
        now = self.clock.now()
        if self.link.usable(now):
            bucket, queue, deadlines, prefix = keys_of(self.namespace, account.name)
            res_id = f"{self.process_id}/{lease.task_id}/{lease.request.seq}"
            fill = 0.0 if self.link.lost else self.initial_fill
            args = [
                *caps,
                *rates,
                *need,
                self.process_id,
                fill,
                max(1, int(self.reservation_ttl_s * 1000)),
                self.ticket_grace_s,
                self._idle_ttl_ms(caps, rates),
                self.min_poll_s,
                "",
            ]
            try:
                granted, wait, *_ = await self.link.run(
                    self.link.reserve, [bucket, queue, deadlines, prefix + res_id], args, now
                )
            except Unreachable:
                if not self._on_fallback:
                    self._on_fallback = True
                    self.counters.outages += 1
                    self.fallback.reset()
            else:
                self._on_fallback = False
                if int(granted):
                    self._held[lease.request.seq] = res_id
                    self.counters.redis_grants += 1
                    return None
                self.counters.refusals += 1
                return float(wait)
        wait_local = self.fallback.take(account.name, need, caps, rates, now)
        if wait_local is None:
            self._held[lease.request.seq] = None
            self.counters.fallback_grants += 1
            return None
        assert self.link.down_until is not None
        return min(wait_local, max(0.0, self.link.down_until - now))

    def _idle_ttl_ms(self, caps: list[float], rates: list[float]) -> int:
        # An idle bucket is kept until it would have refilled, plus a minute.
        refill = max(c / r for c, r in zip(caps, rates, strict=True))
        return int((refill + 60.0) * 1000)

    # -- the end of a call ---------------------------------------------------------------

    def _settle_lease(self, lease: Lease, usage: Usage, snapshot: RateLimitSnapshot | None) -> None:
        super()._settle_lease(lease, usage, snapshot)
        real = (1.0, float(usage.itpm_tokens), float(usage.output_tokens))
        self._finish(lease, real, snapshot)

    def _release_lease(self, lease: Lease) -> None:
        super()._release_lease(lease)
        self._finish(lease, None, None)

    def _finish(
        self,
        lease: Lease,
        real: tuple[float, float, float] | None,
        snapshot: RateLimitSnapshot | None,
    ) -> None:
        if lease.request.seq not in self._held:
            return
        res_id = self._held.pop(lease.request.seq)
        account = self._accounts[lease.model_class]
        if res_id is None:
            if real is not None:
                self.fallback.settle(account.name, lease.reserved, real, self.clock.now())
            return
        self._spawn(self._settle_shared(account, res_id, real, snapshot))

    async def _settle_shared(
        self,
        account: ModelAccount,
        res_id: str,
        real: tuple[float, float, float] | None,
        snapshot: RateLimitSnapshot | None,
    ) -> None:
        caps, rates = self._shape(account)
        bucket, _, _, prefix = keys_of(self.namespace, account.name)
        args = [
            *caps,
            *rates,
            *(real if real is not None else (0.0, 0.0, 0.0)),
            1 if real is not None else 0,
            self._idle_ttl_ms(caps, rates),
            "",
        ]
        try:
            await self.link.run(self.link.settle, [bucket, prefix + res_id], args, self.clock.now())
        except Unreachable:
            self.counters.lost_settlements += 1
            return
        if snapshot is not None:
            await self._pull_down(account, snapshot)

    # -- feedback ----------------------------------------------------------------------

    async def _pull_down(self, account: ModelAccount, snapshot: RateLimitSnapshot) -> None:
        if account.buckets is None:
            return
        ceilings: list[Any] = []
        for i, header in enumerate(_HEADERS):
            remaining = snapshot.reading(header).remaining
            if remaining is None:
                ceilings.append("")
                continue
            # Output that in-flight calls (of every process) will still produce is not in
            # the reading yet but is already out of the shared level: no subtraction here.
            ceilings.append(float(remaining) + (TOKEN_SLACK if i else 0.0))
        if all(c == "" for c in ceilings):
            return
        caps, rates = self._shape(account)
        bucket = keys_of(self.namespace, account.name)[0]
        args = [*caps, *rates, *ceilings, self._idle_ttl_ms(caps, rates), ""]
        try:
            await self.link.run(self.link.pull_down, [bucket], args, self.clock.now())
        except Unreachable:
            return

    def observe(self, model: str, snapshot: RateLimitSnapshot) -> None:
        """Resync `model`'s class, locally and in the shared bucket (pull down only)."""
        super().observe(model, snapshot)
        account = self.account(model)
        if account.buckets is not None and self.link.usable(self.clock.now()):
            self._spawn(self._pull_down(account, snapshot))

    def report_error(self, model: str, error: LLMError, *, lease: Lease | None = None) -> None:
        """`Budget.report_error`, and a 429 also pauses the class for every process."""
        super().report_error(model, error, lease=lease)
        if error.kind is not ErrorKind.RATE_LIMITED:
            return
        account = self.account(model)
        if account.buckets is None or not self.link.usable(self.clock.now()):
            return
        pause = error.retry_after if error.retry_after is not None else self.backoff.default_pause
        caps, rates = self._shape(account)
        self._spawn(self._pause_shared(account.name, pause, self._idle_ttl_ms(caps, rates)))

    async def _pause_shared(self, name: str, seconds: float, ttl_ms: int) -> None:
        bucket = keys_of(self.namespace, name)[0]
        try:
            await self.link.run(self.link.pause, [bucket], [seconds, ttl_ms, ""], self.clock.now())
        except Unreachable:
            return

    # -- background work and shutdown ----------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def flush(self) -> None:
        """Wait until every settlement and resync sent to Redis so far has been applied."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def aclose(self) -> None:
        """Apply pending settlements (bounded by the socket timeout), then disconnect."""
        try:
            await asyncio.wait_for(self.flush(), timeout=max(1.0, 5 * self.link.socket_timeout_s))
        except TimeoutError:
            for task in list(self._background):
                task.cancel()
        await self.link.aclose()
