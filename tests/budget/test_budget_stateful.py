"""Stateful property tests: the pure core and the async shell against a reference model.

Invariants checked after every step, for each bucket:
- net charge (granted - refunded + debt charged) <= configured capacity + rate * elapsed
  + current debt (what the bucket supplied; debt is the server's reality of overshoots);
- no grant goes into debt: right after a grant the level is >= 0 (debt is repaid first);
- the budget's granted totals equal the reference's (cancellations leak nothing, and a
  double settlement is refused without changing anything);
- strict FIFO: admissions happen in arrival order;
- the head of the queue never waits while it fits, and its wake-up time is exact.
"""

from __future__ import annotations

import asyncio
import copy
import math
from collections.abc import Callable

import hypothesis.strategies as st
from budget_helpers import SONNET, SteppingClock, account, snapshot, usage
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from agents.errors import ErrorKind, LLMError
from orchestrator.budget import (
    Budget,
    Lease,
    LeaseState,
    LeaseStateError,
    ModelAccount,
    RampConfig,
    RequestTooLarge,
    rate_limited,
    resync,
)
from orchestrator.limits import AccountingMode, ModelLimits

LIMITS = ModelLimits(rpm=60, itpm=30_000, otpm=6_000)
CAPS = (60.0, 30_000.0, 6_000.0)
RATES = (1.0, 500.0, 100.0)
EPS = 1e-6

sizes = st.integers(min_value=0, max_value=34_000)
max_tokens = st.integers(min_value=1, max_value=7_000)
outputs = st.integers(min_value=0, max_value=7_000)
factors = st.sampled_from([0.0, 0.5, 0.9, 1.0, 1.1, 1.5])
ramps = st.sampled_from(
    [RampConfig.off(), RampConfig(start_fraction=0.3, duration=5.0, idle_after=20.0)]
)


def _too_large(input_tokens: int, mt: int, out: int, mode: AccountingMode) -> bool:
    expected = min(out, mt)
    capped = min(mt, max(int(0.5 * CAPS[2]), expected))
    reserve = capped if mode == "legacy" else min(expected, capped)
    return input_tokens > CAPS[1] or reserve > CAPS[2]


def _check_buckets(acct: ModelAccount, now: float) -> None:
    assert acct.buckets is not None
    for i in (0, 1, 2):
        bucket = acct.buckets[i]
        net = acct.granted[i] - acct.refunded[i] + acct.debt_charged[i]
        assert net <= CAPS[i] + RATES[i] * now + bucket.debt(now) + EPS * (1 + net)
        assert bucket.level(now) <= bucket.capacity + EPS


def _check_grant(lease: Lease, capacities: tuple[float, ...]) -> None:
    assert lease.drawn is not None
    for i in (0, 1, 2):
        # Level after the grant >= 0, unless the lease exceeds a learned capacity.
        allowed = capacities[i] + max(0.0, lease.reserved[i] - capacities[i])
        assert lease.drawn[i] <= allowed + EPS * (1 + allowed)


class AccountMachine(RuleBasedStateMachine):
    """The pure core (`ModelAccount` + `feedback`) with floats as time."""

    def __init__(self) -> None:
        super().__init__()
        self.acct: ModelAccount = account()
        self.now = 0.0
        self.mode: AccountingMode = "legacy"
        self.waiting: list[Lease] = []
        self.active: list[Lease] = []
        self.done: list[Lease] = []
        self.granted_ref = [0.0, 0.0, 0.0]
        self.last_admitted_seq = 0
        self.seq = 0

    @initialize(mode=st.sampled_from(["legacy", "actual"]), ramp=ramps)
    def setup(self, mode: AccountingMode, ramp: RampConfig) -> None:
        self.mode = mode
        self.acct = account(LIMITS, mode=mode, ramp=ramp)

    def _admitted(self, leases: list[Lease]) -> None:
        assert self.acct.buckets is not None
        caps = tuple(b.capacity for b in self.acct.buckets)
        for lease in leases:
            assert lease.request.seq > self.last_admitted_seq  # strict FIFO
            self.last_admitted_seq = lease.request.seq
            _check_grant(lease, caps)
            if lease in self.waiting:
                self.waiting.remove(lease)
            self.active.append(lease)
            for i in (0, 1, 2):
                self.granted_ref[i] += lease.reserved[i]

    def _admit(self) -> None:
        self._admitted(self.acct.admit(self.now))

    @rule(input_tokens=sizes, mt=max_tokens, out=outputs, tail=st.floats(0, 100))
    def request(self, input_tokens: int, mt: int, out: int, tail: float) -> None:
        self.seq += 1
        try:
            lease = self.acct.prepare(
                task_id=f"t{self.seq}",
                model=SONNET,
                seq=self.seq,
                now=self.now,
                input_tokens=input_tokens,
                max_tokens=mt,
                output_tokens=out,
                tail=tail,
            )
        except RequestTooLarge:
            assert _too_large(input_tokens, mt, out, self.mode)
            return
        assert not _too_large(input_tokens, mt, out, self.mode)
        if self.acct.try_admit(lease, self.now):
            assert not self.waiting
            self._admitted([lease])
        else:
            self.acct.enqueue(lease)
            self.waiting.append(lease)

    @rule(dt=st.floats(min_value=0.0, max_value=40.0))
    def advance(self, dt: float) -> None:
        self.now += dt
        self._admit()

    @precondition(lambda self: self.active)
    @rule(data=st.data(), fin=factors, fout=factors, progress=st.integers(0, 3_000))
    def settle(self, data: st.DataObject, fin: float, fout: float, progress: int) -> None:
        lease = data.draw(st.sampled_from(self.active))
        self.acct.progress(lease, min(progress, int(lease.reserved[2])))
        self.acct.settle(
            lease,
            input_tokens=round(lease.reserved[1] * fin),
            output_tokens=round(lease.reserved[2] * fout),
            now=self.now,
        )
        self.active.remove(lease)
        self.done.append(lease)
        self._admit()

    @precondition(lambda self: self.done)
    @rule(data=st.data())
    def settle_twice(self, data: st.DataObject) -> None:
        lease = data.draw(st.sampled_from(self.done))
        before = (list(self.acct.refunded), list(self.acct.debt_charged))
        try:
            self.acct.settle(lease, input_tokens=0, output_tokens=0, now=self.now)
        except LeaseStateError:
            pass
        else:
            raise AssertionError("a second settlement was accepted")
        assert (self.acct.refunded, self.acct.debt_charged) == before

    @precondition(lambda self: self.active)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        lease = data.draw(st.sampled_from(self.active))
        self.acct.release(lease, self.now)
        self.active.remove(lease)
        self.done.append(lease)
        self._admit()

    @precondition(lambda self: self.waiting or self.active)
    @rule(data=st.data())
    def withdraw(self, data: st.DataObject) -> None:
        lease = data.draw(st.sampled_from(self.waiting + self.active))
        was_active = lease.state is LeaseState.ACTIVE
        self.acct.withdraw(lease, self.now)
        assert lease.state is LeaseState.REVOKED
        if was_active:
            self.active.remove(lease)
            for i in (0, 1, 2):
                self.granted_ref[i] -= lease.reserved[i]
        else:
            self.waiting.remove(lease)
        self._admit()

    @rule(
        req=st.integers(0, 60),
        inp=st.integers(0, 30),
        out=st.integers(0, 6),
    )
    def observe(self, req: int, inp: int, out: int) -> None:
        reading = snapshot(
            requests=(60, req),
            input_tokens=(30_000, inp * 1_000),
            output_tokens=(6_000, out * 1_000),
        )
        assert self.acct.buckets is not None
        before = [b.level(self.now) for b in self.acct.buckets]
        resync(self.acct, reading, self.now)
        after = [b.level(self.now) for b in self.acct.buckets]
        assert all(a <= b + EPS for a, b in zip(after, before, strict=True))  # never up
        self._admit()

    @rule(
        which=st.sampled_from([None, "requests", "input_tokens", "output_tokens"]),
        wait=st.floats(0, 10),
    )
    def rate_limit(self, which: str | None, wait: float) -> None:
        lease = self.active[-1] if self.active else None
        error = LLMError(ErrorKind.RATE_LIMITED, "429", retry_after=wait, limit=which)
        rate_limited(self.acct, error, self.now, lease=lease)
        assert self.acct.paused_until >= self.now + wait - EPS
        self._admit()

    @invariant()
    def buckets_within_supply(self) -> None:
        _check_buckets(self.acct, self.now)
        assert self.acct.granted == self.granted_ref or all(
            math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
            for a, b in zip(self.acct.granted, self.granted_ref, strict=True)
        )

    @invariant()
    def bookkeeping(self) -> None:
        acct = self.acct
        assert acct.in_flight == len(self.active)
        assert len(acct.waiting) == len(acct.queue) == len(self.waiting)
        for i in (0, 1, 2):
            expected = sum(lease.reserved[i] for lease in self.waiting)
            assert math.isclose(acct.waiting_demand[i], expected, abs_tol=1e-6)
        if self.mode == "actual":
            pending = sum(max(0.0, x.reserved[2] - x.produced) for x in self.active)
            assert math.isclose(acct.pending_output, pending, abs_tol=1e-6)

    @invariant()
    def head_waits_only_when_it_does_not_fit_and_wakes_exactly(self) -> None:
        acct = self.acct
        head = acct.queue.peek()
        if head is None:
            assert acct.wake_time(self.now) is None
            return
        lease = acct.waiting[head.seq]
        assert not copy.deepcopy(acct).fits(lease.reserved, self.now)
        at = acct.wake_time(self.now)
        assert at is not None and at >= self.now
        # deepcopy copies the leases too, so compare sequence numbers. An idle ramp that
        # begins at the attempt itself is the one thing `wake_time` cannot foresee.
        probe = copy.deepcopy(acct)
        admitted = probe.admit(at + 1e-6)
        assert (admitted and admitted[0].request.seq == head.seq) or probe.ramp.start == at + 1e-6
        if at - self.now > 1e-3:
            assert copy.deepcopy(acct).admit(at - 1e-3) == []

    def teardown(self) -> None:
        # Drain: cancel every waiter, settle every call exactly; after a minute of refill
        # every bucket is full again and nothing is left reserved.
        for lease in list(self.waiting):
            self.acct.withdraw(lease, self.now)
        for lease in list(self.active):
            self.acct.settle(
                lease,
                input_tokens=int(lease.reserved[1]),
                output_tokens=int(lease.reserved[2]),
                now=self.now,
            )
        later = max(self.now, self.acct.paused_until) + 1_000.0
        acct = self.acct
        assert acct.in_flight == 0 and not acct.waiting and acct.pending_output == 0
        assert acct.buckets is not None
        for bucket in acct.buckets:
            assert bucket.available(later) == bucket.capacity


AccountMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, suppress_health_check=list(HealthCheck)
)
TestAccountMachine = AccountMachine.TestCase


class BudgetMachine(RuleBasedStateMachine):
    """The async `Budget` on a stepping clock: waiters, timers, cancellation, feedback."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = SteppingClock(self.loop)
        self.budget = Budget(LIMITS, mode="legacy", policy="fifo", clock=self.clock)
        self.tasks: dict[str, asyncio.Task[Lease]] = {}
        self.active: list[Lease] = []
        self.done: list[Lease] = []
        self.granted_ref = [0.0, 0.0, 0.0]
        self.seen: set[str] = set()
        self.order: list[Lease] = []
        self.n = 0

    @initialize(mode=st.sampled_from(["legacy", "actual"]), ramp=ramps)
    def setup(self, mode: AccountingMode, ramp: RampConfig) -> None:
        self.budget = Budget(LIMITS, mode=mode, policy="fifo", clock=self.clock, ramp=ramp)

    def _in_loop(self, call: Callable[[], object]) -> None:
        """Run a synchronous budget call the way a runner does: inside the event loop."""

        async def run() -> None:
            call()

        self.loop.run_until_complete(run())

    def _collect(self) -> None:
        self.clock.run_pending()
        for task_id, task in list(self.tasks.items()):
            if not task.done():
                continue
            del self.tasks[task_id]
            if task.cancelled():
                continue
            lease = task.result()
            if lease.state is LeaseState.ACTIVE:
                self.active.append(lease)
                self.order.append(lease)
                for i in (0, 1, 2):
                    self.granted_ref[i] += lease.reserved[i]

    @rule(input_tokens=sizes, mt=max_tokens, out=outputs)
    def request(self, input_tokens: int, mt: int, out: int) -> None:
        self.n += 1
        task_id = f"t{self.n}"
        coro = self.budget.acquire(
            task_id, model=SONNET, input_tokens=input_tokens, max_tokens=mt, output_tokens=out
        )
        self.tasks[task_id] = self.loop.create_task(coro)
        self.clock.run_pending()
        task = self.tasks[task_id]
        if task.done() and not task.cancelled() and isinstance(task.exception(), RequestTooLarge):
            assert _too_large(input_tokens, mt, out, self.budget.mode)
            del self.tasks[task_id]
            return
        self._collect()

    @rule(dt=st.floats(min_value=0.0, max_value=40.0))
    def advance(self, dt: float) -> None:
        self.clock.advance(dt)
        self._collect()

    @precondition(lambda self: self.active)
    @rule(data=st.data(), fin=factors, fout=factors)
    def settle(self, data: st.DataObject, fin: float, fout: float) -> None:
        lease = data.draw(st.sampled_from(self.active))
        real = usage(round(lease.reserved[1] * fin), round(lease.reserved[2] * fout))
        self._in_loop(lambda: lease.settle(real))
        self.active.remove(lease)
        self.done.append(lease)
        self._collect()

    @precondition(lambda self: self.done)
    @rule(data=st.data())
    def settle_twice(self, data: st.DataObject) -> None:
        lease = data.draw(st.sampled_from(self.done))
        try:
            self._in_loop(lambda: lease.settle(usage(0, 0)))
        except LeaseStateError:
            return
        raise AssertionError("a second settlement was accepted")

    @precondition(lambda self: self.active)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        lease = data.draw(st.sampled_from(self.active))
        self._in_loop(lease.release)
        self.active.remove(lease)
        self.done.append(lease)
        self._collect()

    @precondition(lambda self: any(not t.done() for t in self.tasks.values()))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        task_id = data.draw(
            st.sampled_from(sorted(k for k, t in self.tasks.items() if not t.done()))
        )
        self.tasks[task_id].cancel()
        self._collect()

    @rule(inp=st.integers(0, 30), out=st.integers(0, 6))
    def observe(self, inp: int, out: int) -> None:
        reading = snapshot(input_tokens=(30_000, inp * 1_000), output_tokens=(6_000, out * 1_000))
        self._in_loop(lambda: self.budget.observe(SONNET, reading))
        self._collect()

    @rule(wait=st.floats(0, 10))
    def rate_limit(self, wait: float) -> None:
        error = LLMError(ErrorKind.RATE_LIMITED, "429", retry_after=wait, limit="input_tokens")
        self._in_loop(lambda: self.budget.report_error(SONNET, error))
        self._collect()

    @invariant()
    def within_supply_and_ordered(self) -> None:
        acct = self.budget.account(SONNET)
        now = self.clock.now()
        _check_buckets(acct, now)
        for i in (0, 1, 2):
            assert math.isclose(acct.granted[i], self.granted_ref[i], abs_tol=1e-6)
        seqs = [lease.request.seq for lease in self.order]
        assert seqs == sorted(seqs)  # strict FIFO admission
        assert acct.in_flight == len(self.active)

    @invariant()
    def head_is_blocked_and_timer_armed(self) -> None:
        acct = self.budget.account(SONNET)
        head = acct.queue.peek()
        if head is None:
            return
        now = self.clock.now()
        at = acct.wake_time(now)
        timer = self.budget._timers.get(acct.name)
        assert at is not None and timer is not None and timer[1] <= at + EPS
        # A head that fits is only ever a timer quantum (1 us) away from admission.
        assert not acct.fits(acct.waiting[head.seq].reserved, now) or timer[1] <= now + EPS

    def teardown(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        self.clock.run_pending()
        for lease in self.active:
            self._in_loop(lease.release)
        acct = self.budget.account(SONNET)
        assert acct.in_flight == 0 and not acct.waiting and len(acct.queue) == 0
        self.clock.advance(1_000.0)
        assert not self.budget._timers
        self.loop.close()


BudgetMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=40, deadline=None, suppress_health_check=list(HealthCheck)
)
TestBudgetMachine = BudgetMachine.TestCase
