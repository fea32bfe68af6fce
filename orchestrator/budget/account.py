"""`ModelAccount`: the pure core of one model class — buckets, wait queue, pause and ramp.

No asyncio here: every method takes `now` explicitly; the `Budget` shell applies the
decisions (wakes waiters, sleeps on the clock until `wake_time`).

**Admission is strict head-of-line in policy order.** The head of the queue is admitted
as soon as every bucket (and the ramp allowance) covers it, and nobody overtakes it. A
bounded bypass ("a smaller later lease may go first if that does not delay the head") was
considered and rejected: the head's admission time is the moment its *binding* bucket
reaches the head's need, so that bucket has zero slack at that moment, and every lease
needs some of every bucket (a request, input and output tokens), so any bypasser would
delay the head. Refunds that make room earlier re-run admission for the head itself. So
the order is exactly the policy's, starvation is impossible unless the policy itself
starves (see `PriorityPolicy.aging`), and priority inversion inside the budget cannot
happen: a waiting lease is never passed by one the policy ranks lower.
"""

from __future__ import annotations

import math

from orchestrator.budget._streams import StreamModel
from orchestrator.budget._window import SlidingSum
from orchestrator.budget.bucket import EPSILON
from orchestrator.budget.capacity import KINDS, ClassCapacity
from orchestrator.budget.errors import LeaseStateError, RequestTooLarge
from orchestrator.budget.lease import Lease, LeaseState
from orchestrator.budget.ramp import Ramp, RampConfig
from orchestrator.budget.resizing import Sizing, apply_sizing
from orchestrator.budget.sharing import SharedKey
from orchestrator.budget.sizing import dominant_share, size_lease
from orchestrator.budget.stats import ModelClassStatistics, class_statistics
from orchestrator.limits import AccountingMode, ModelLimits
from policies.split import LeaseRequest, SplitPolicy

__all__ = ["KINDS", "ModelAccount"]

#: Weight of one settled call in the mean real-to-reserved output ratio (actual mode).
_SCALE_WEIGHT = 0.1

#: A re-sized lease keeps its caller's size only if the bucket keeps this much after it.
_ROOM = 0.25


class ModelAccount(ClassCapacity):
    """The buckets and waiting leases of one model class (e.g. `sonnet-5`).

    `limits=None` means unknown: the class then admits one probe lease at a time until a
    response's `-limit` headers reveal the limits (`feedback.resync`).
    """

    def __init__(
        self,
        name: str,
        limits: ModelLimits | None,
        *,
        mode: AccountingMode,
        policy: SplitPolicy,
        ramp: RampConfig | None = None,
        now: float = 0.0,
    ) -> None:
        if mode not in ("actual", "legacy"):
            raise ValueError(f"mode must be 'actual' or 'legacy', got {mode!r}")
        self.mode: AccountingMode = mode
        self.policy = policy
        self.queue = policy.new_queue()
        self.ramp_config = ramp if ramp is not None else RampConfig()
        self.ramp = Ramp()
        super().__init__(name)
        self.paused_until = -math.inf
        self.last_admit: float | None = None
        self.in_flight = 0
        #: actual mode: output reserved by in-flight leases and not yet known to be produced.
        self.pending_output = 0.0
        #: EWMA of admission-to-end seconds of this class's calls (None before the first).
        self.call_seconds: float | None = None
        #: actual mode: the charged calls in flight and how fast they produce output.
        self.streams = StreamModel()
        #: actual mode: mean of real output / output reserved over settled calls, and the
        #: factor output reservations are scaled by at admission (never below 1).
        self.output_ratio = 1.0
        self.output_scale = 1.0
        #: Whether the readings show other clients drawing on the key (`sharing`).
        self.shared = SharedKey()
        self.waiting: dict[int, Lease] = {}
        #: Arrival of the first lease of the current waiting spell (None: nobody waits).
        self.waiting_since: float | None = None
        self.waiting_demand = [0.0, 0.0, 0.0]
        self.granted = [0.0, 0.0, 0.0]
        self.refunded = [0.0, 0.0, 0.0]
        self.debt_charged = [0.0, 0.0, 0.0]
        self.pulled = [0.0, 0.0, 0.0]
        self.used = (SlidingSum(), SlidingSum(), SlidingSum())
        self.admitted = 0
        self.settled = 0
        self.released = 0
        self.rate_limited = 0
        #: The latest sizing published per sizing key (`resize`), and the budget's cap.
        self.sizings: dict[str, Sizing] = {}
        self.max_tokens_cap: int | None = None
        if limits is not None:
            self.set_limits(limits, now)

    def __repr__(self) -> str:
        return (
            f"ModelAccount({self.name!r}, waiting={len(self.waiting)}, in_flight={self.in_flight})"
        )

    # -- building a lease ----------------------------------------------------------------

    def prepare(
        self,
        *,
        task_id: str,
        model: str,
        seq: int,
        now: float,
        input_tokens: int,
        max_tokens: int,
        output_tokens: int | None = None,
        priority: int = 0,
        tail: float = 0.0,
        group: str | None = None,
        weight: float = 1.0,
        max_tokens_cap: int | None = None,
        sizing_key: str | None = None,
        lean_max_tokens: int | None = None,
    ) -> Lease:
        """Validate and size a lease (`size_lease`); `RequestTooLarge` if it can never fit.

        A `sizing_key` lets a later `resize` of that key re-size the lease while it waits.
        `lean_max_tokens` (legacy mode, with a `sizing_key`): the lease goes with that
        smaller `max_tokens` (sized from a declared output) and keeps the caller's for
        later: once the key has a published sizing, the lease is re-sized as any other
        (`resize`, and the caller's size when there is room).
        """
        if not weight > 0:
            raise ValueError(f"task {task_id!r}: weight must be > 0, got {weight}")
        buckets = self.buckets
        size = size_lease(
            task_id=task_id,
            input_tokens=input_tokens,
            max_tokens=max_tokens,
            output_tokens=output_tokens,
            mode=self.mode,
            policy=self.policy,
            configured_output=self.hard[2],
            learned_output=buckets[2].capacity if buckets is not None else None,
            max_tokens_cap=max_tokens_cap,
        )
        capacities = (
            None
            if buckets is None
            else (buckets[0].capacity, buckets[1].capacity, buckets[2].capacity)
        )
        request = LeaseRequest(
            task_id=task_id,
            seq=seq,
            arrival=now,
            model_class=self.name,
            priority=priority,
            tail=tail,
            group=group,
            weight=weight,
            input_tokens=input_tokens,
            output_tokens=size.expected,
            max_tokens=size.max_tokens,
            share=dominant_share(size.reserved, capacities),
        )
        lease = Lease(
            request=request,
            model=model,
            model_class=self.name,
            max_tokens=size.max_tokens,
            reserved=size.reserved,
        )
        self.check(lease)
        self.max_tokens_cap = max_tokens_cap
        lease.declared_max_tokens = max_tokens
        lease.declared_output_tokens = max_tokens if output_tokens is None else output_tokens
        if sizing_key is not None:
            lease.sizing_key = sizing_key
            if sizing_key in self.sizings:
                # Lean from the start; the caller's own size is kept for when there is room.
                self._refresh(lease)
            elif (
                lean_max_tokens is not None
                and self.mode == "legacy"
                and lean_max_tokens < lease.max_tokens
            ):
                # Sized from its declaration; epoch -1 lets any published sizing replace it.
                declared = Sizing(
                    output_tokens=lease.declared_output_tokens,
                    max_tokens=lean_max_tokens,
                    epoch=-1,
                )
                self._apply(lease, declared)
        return lease

    def resize(self, key: str, *, output_tokens: int, max_tokens: int | None) -> None:
        """Publish a new sizing for leases tagged `key`; waiting ones take it at the head."""
        current = self.sizings.get(key)
        if (
            current is not None
            and current.output_tokens == output_tokens
            and current.max_tokens == max_tokens
        ):
            return
        epoch = current.epoch + 1 if current is not None else 1
        self.sizings[key] = Sizing(output_tokens=output_tokens, max_tokens=max_tokens, epoch=epoch)

    def trim_running(self, key: str, now: float) -> bool:
        """actual mode: lower the output reserved by running leases tagged `key` to its
        latest sizing; returns True if anything was given back.

        A fan-out's first calls of an unknown kind were admitted with their whole
        `max_tokens` reserved. In actual mode that is only the budget's pacing guess (the
        server charges what they produce, and their `max_tokens` on the wire is not
        changed), so once the kind's size is learned the excess goes back to the bucket at
        once rather than when each call ends. Never below what a call has produced; never
        up; and in legacy mode never (the server holds the `max_tokens` it admitted).
        """
        sizing = self.sizings.get(key)
        buckets = self.buckets
        if self.mode != "actual" or sizing is None or buckets is None:
            return False
        bucket = buckets[2]
        returned = False
        for lease in self.streams.running:
            if lease.sizing_key != key:
                continue
            reserved = lease.reserved
            target = max(
                float(lease.produced),
                min(sizing.output_tokens, lease.declared_output_tokens) * lease.scale,
            )
            excess = reserved[2] - target
            if excess <= 0:
                continue
            lease.reserved = (reserved[0], reserved[1], target)
            self.pending_output -= excess
            credited = bucket.refund(excess, now)
            self.refunded[2] += credited
            returned = returned or credited > 0
        return returned

    def _refresh(self, lease: Lease) -> None:
        """Bring a waiting lease up to its key's latest sizing (adjusting the queue's demand)."""
        key = lease.sizing_key
        sizing = self.sizings.get(key) if key is not None else None
        if sizing is None or sizing.epoch == lease.sizing_epoch:
            return
        self._apply(lease, sizing)

    def _apply(self, lease: Lease, sizing: Sizing) -> None:
        """Re-size `lease` to `sizing`, keeping the waiting demand in step."""
        before = lease.reserved
        buckets = self.buckets
        changed = apply_sizing(
            lease,
            sizing,
            mode=self.mode,
            policy=self.policy,
            configured_output=self.hard[2],
            learned_output=buckets[2].capacity if buckets is not None else None,
            max_tokens_cap=self.max_tokens_cap,
            capacities=None
            if buckets is None
            else (buckets[0].capacity, buckets[1].capacity, buckets[2].capacity),
        )
        if changed and lease.request.seq in self.waiting:
            demand, after = self.waiting_demand, lease.reserved
            for i in (0, 1, 2):
                demand[i] += after[i] - before[i]

    def _roomy(self, lease: Lease, now: float) -> bool:
        """Legacy: whether a re-sized lease can go with its caller's size without holding
        the next lease back (see `orchestrator.budget.resizing`)."""
        if self.mode != "legacy" or lease.generous is None:
            return False
        if lease.sizing_key not in self.sizings:
            # Lean from a declaration, and nothing learned of its kind yet: the declared
            # size stands (going with the caller's size when a fan-out's first calls find
            # room would take the room from the ones queued behind them).
            return False
        buckets = self.buckets
        if buckets is None:
            return False
        generous, lean = lease.generous[2], lease.reserved
        # `waiting_demand` includes this lease when it waits (its lean size), not otherwise.
        queued = lease.request.seq in self.waiting
        others = len(self.waiting) - (1 if queued else 0)
        for i in (0, 1, 2):
            extra = generous[i] - lean[i]
            if extra <= 0:
                continue  # the two sizes take the same from this bucket
            # Room for the generous size and still half the bucket, or a typical next lease
            # if that is more: when the bucket binds, the lean size lets the next one go
            # sooner (calls arriving together are not queued yet, hence the half); when
            # another bucket binds, the extra costs nobody anything.
            rest = self.waiting_demand[i] - (lean[i] if queued else 0.0)
            typical = rest / others if others > 0 else 0.0
            need = generous[i] + max(typical, _ROOM * buckets[i].capacity)
            if need > buckets[i].capacity or not buckets[i].fits(need, now):
                return False
        return True

    def _restore(self, lease: Lease) -> None:
        """Give a waiting lease back the size its caller asked for."""
        if lease.generous is None:
            return
        request, max_tokens, reserved = lease.generous
        demand, before = self.waiting_demand, lease.reserved
        for i in (0, 1, 2):
            demand[i] += reserved[i] - before[i]
        lease.request, lease.max_tokens, lease.reserved = request, max_tokens, reserved
        lease.generous = None

    # -- admission ---------------------------------------------------------------------

    def _maybe_ramp(self, now: float) -> None:
        cfg = self.ramp_config
        if now < self.paused_until or self.ramp.active(now):
            return
        if self.last_admit is None:
            if cfg.on_start:
                self.ramp.begin(
                    now,
                    fraction=cfg.start_fraction,
                    duration=cfg.duration,
                    # Exact charges (requests; legacy output) need no ramp at start.
                    buckets=(
                        not cfg.start_exact_free,
                        True,
                        self.mode == "actual" or not cfg.start_exact_free,
                    ),
                )
            # Mark the start as handled, without counting it as an admission for idleness.
            self.last_admit = now
        elif (
            cfg.idle_after is not None
            and self.in_flight == 0
            and now - self.last_admit >= cfg.idle_after
            # Leases that waited through the quiet spell (for refill) were traffic held
            # back, not a jump after idleness: no ramp for them.
            and (
                self.waiting_since is None or self.waiting_since - self.last_admit >= cfg.idle_after
            )
        ):
            self.ramp.begin(now, fraction=cfg.start_fraction, duration=cfg.duration)
            self.last_admit = now

    def fits(self, reserved: tuple[float, float, float], now: float) -> bool:
        """Whether a reservation can be granted at `now` (pause, buckets and ramp)."""
        if now < self.paused_until:
            return False
        buckets = self.buckets
        if buckets is None:
            return self.in_flight == 0
        ramp = self.ramp
        ramping = ramp.active(now)
        scale = self.output_scale
        for i in (0, 1, 2):
            bucket = buckets[i]
            capacity = bucket.capacity
            # A lease larger than a *learned* capacity goes when the bucket is full, into debt.
            need = reserved[i] * scale if i == 2 else reserved[i]
            if capacity < need:
                need = capacity
            if not bucket.fits(need, now):
                return False
            if (
                ramping
                and ramp.allowance(i, capacity, bucket.rate, now) + EPSILON * max(1.0, need) < need
            ):
                return False
        return True

    def _grant(self, lease: Lease, now: float) -> None:
        buckets = self.buckets
        scale = self.output_scale
        if scale != 1.0 and buckets is not None:
            r = lease.reserved
            lease.reserved = (r[0], r[1], r[2] * scale)
            lease.scale = scale
        reserved = lease.reserved
        if buckets is None:
            lease.charged = False
        else:
            granted = self.granted
            for i in (0, 1, 2):
                buckets[i].take(reserved[i], now)
                granted[i] += reserved[i]
            lease.drawn = (
                buckets[0].capacity - buckets[0].level(now),
                buckets[1].capacity - buckets[1].level(now),
                buckets[2].capacity - buckets[2].level(now),
            )
            self.ramp.on_grant(reserved, now)
            if self.mode == "actual":
                self.pending_output += reserved[2]
                self.streams.start(lease)
        lease.state = LeaseState.ACTIVE
        lease.admitted_at = now
        lease.pulled_input = self.pulled[1]
        self.in_flight += 1
        self.admitted += 1
        self.last_admit = now

    def try_admit(self, lease: Lease, now: float) -> bool:
        """Admit a new lease at once if nobody waits and it fits (the fast path)."""
        if self.waiting:
            return False
        self._maybe_ramp(now)
        if lease.generous is not None and self._roomy(lease, now):
            self._restore(lease)
        if not self.fits(lease.reserved, now):
            return False
        self._grant(lease, now)
        return True

    def enqueue(self, lease: Lease) -> None:
        """Queue a lease that could not be admitted at once."""
        if not self.waiting:
            self.waiting_since = lease.request.arrival
        self.waiting[lease.request.seq] = lease
        self.queue.push(lease.request)
        demand, reserved = self.waiting_demand, lease.reserved
        demand[0] += reserved[0]
        demand[1] += reserved[1]
        demand[2] += reserved[2]

    def _unqueue(self, lease: Lease) -> None:
        del self.waiting[lease.request.seq]
        demand, reserved = self.waiting_demand, lease.reserved
        demand[0] -= reserved[0]
        demand[1] -= reserved[1]
        demand[2] -= reserved[2]
        if not self.waiting:
            # Re-zero to stop float drift accumulating across many queue cycles.
            self.waiting_demand = [0.0, 0.0, 0.0]
            self.waiting_since = None

    def admit(self, now: float) -> list[Lease]:
        """Admit waiting leases in policy order while the head fits; returns them."""
        admitted: list[Lease] = []
        if not self.waiting or now < self.paused_until:
            return admitted
        self._maybe_ramp(now)
        queue, waiting = self.queue, self.waiting
        while True:
            request = queue.peek()
            if request is None:
                break
            lease = waiting[request.seq]
            if lease.sizing_key is not None:
                self._refresh(lease)
                if lease.generous is not None and self._roomy(lease, now):
                    self._restore(lease)
            if not self.fits(lease.reserved, now):
                break
            queue.pop()
            self._unqueue(lease)
            self._grant(lease, now)
            admitted.append(lease)
        return admitted

    def wake_time(self, now: float) -> float | None:
        """When the head of the queue will fit, absent other events; None: no timed wake-up.

        None when nobody waits, or while limits are unknown (a probe's settlement or
        response wakes the queue instead).
        """
        request = self.queue.peek()
        buckets = self.buckets
        if request is None or buckets is None:
            return None
        head = self.waiting[request.seq]
        if head.sizing_key is not None:
            self._refresh(head)
        reserved = head.reserved
        ramp = self.ramp
        ramping = now < ramp.end
        wait = 0.0
        scale = self.output_scale
        for i in (0, 1, 2):
            bucket = buckets[i]
            need = min(reserved[i] * scale if i == 2 else reserved[i], bucket.capacity)
            wait = max(wait, bucket.time_until(need, now))
            if ramping:
                wait = max(wait, ramp.time_until(i, need, bucket.capacity, bucket.rate, now))
        return max(self.paused_until, now + wait)

    def withdraw(self, lease: Lease, now: float) -> None:
        """A waiter was cancelled: dequeue it, or give back a grant it never used."""
        if lease.state is LeaseState.WAITING:
            if lease.request.seq in self.waiting:
                self.queue.discard(lease.request)
                self._unqueue(lease)
            lease.state = LeaseState.REVOKED
        elif lease.state is LeaseState.ACTIVE:
            self._end(lease, now)
            lease.state = LeaseState.REVOKED
            self.admitted -= 1
            buckets = self.buckets
            if buckets is not None and lease.charged:
                for i in (0, 1, 2):
                    buckets[i].refund(lease.reserved[i], now)
                    self.granted[i] -= lease.reserved[i]
                self.ramp.on_revoke(lease.reserved, now)

    def fail_waiting(self) -> list[Lease]:
        """Remove every waiting lease (they are about to fail); returns them."""
        failed = list(self.waiting.values())
        for lease in failed:
            lease.state = LeaseState.FAILED
        self.waiting.clear()
        self.queue = self.policy.new_queue()
        self.waiting_demand = [0.0, 0.0, 0.0]
        self.waiting_since = None
        return failed

    def remove_too_large(self) -> list[tuple[Lease, RequestTooLarge]]:
        """Dequeue waiting leases that exceed newly learned limits, with their errors."""
        failed: list[tuple[Lease, RequestTooLarge]] = []
        for lease in list(self.waiting.values()):
            try:
                self.check(lease)
            except RequestTooLarge as error:
                self.queue.discard(lease.request)
                self._unqueue(lease)
                lease.state = LeaseState.FAILED
                failed.append((lease, error))
        return failed

    # -- the end of a call ---------------------------------------------------------------

    def _end(self, lease: Lease, now: float) -> None:
        if lease.state is not LeaseState.ACTIVE:
            raise LeaseStateError(
                f"lease for task {lease.task_id!r} is {lease.state.value}; a lease is "
                "settled or released once, while active"
            )
        self.in_flight -= 1
        if lease.admitted_at is not None:
            seconds = max(0.0, now - lease.admitted_at)
            last = self.call_seconds
            self.call_seconds = seconds if last is None else last + 0.2 * (seconds - last)
        if self.mode == "actual" and lease.charged:
            self.pending_output -= max(0.0, lease.reserved[2] - lease.produced)
            self.streams.end(lease)
            if self.in_flight == 0:
                self.pending_output = 0.0

    def _learn_output_scale(self, lease: Lease, output_tokens: int) -> None:
        """actual mode: scale output reservations up when calls produce more than reserved.

        Declared (or learned) output sizes may be too low for the calls they describe; in
        actual mode that would let more streams run than the bucket and its refill can
        carry (throttling, debt or errors, depending on the server). The mean ratio of
        real to reserved output over settled calls (an exponential average) scales the
        output part of later admissions while it is above 1.
        """
        base = lease.reserved[2] / lease.scale
        if base < 1.0:
            return
        ratio = self.output_ratio + _SCALE_WEIGHT * (output_tokens / base - self.output_ratio)
        self.output_ratio = ratio
        self.output_scale = max(1.0, ratio)

    def progress(self, lease: Lease, output_tokens: int) -> None:
        """The lease's stream has produced `output_tokens` so far (cumulative)."""
        if lease.state is not LeaseState.ACTIVE or output_tokens <= lease.produced:
            return
        if self.mode == "actual" and lease.charged:
            before = max(0.0, lease.reserved[2] - lease.produced)
            after = max(0.0, lease.reserved[2] - output_tokens)
            self.pending_output -= before - after
        lease.produced = output_tokens

    def settle(self, lease: Lease, *, input_tokens: int, output_tokens: int, now: float) -> bool:
        """Settle with the real ITPM-counted input and output: refund, or charge as debt.

        Returns True if something was refunded, or output reservations were scaled down (a
        waiting head may fit earlier).
        """
        self._end(lease, now)  # first: a lease settled twice must change nothing
        scale = self.output_scale
        if self.mode == "actual" and lease.charged:
            if lease.admitted_at is not None:
                self.streams.learn(output_tokens, now - lease.admitted_at)
            self._learn_output_scale(lease, output_tokens)
        lease.state = LeaseState.SETTLED
        self.settled += 1
        real = (1.0, float(input_tokens), float(output_tokens))
        buckets = self.buckets
        returned = self.output_scale < scale
        if buckets is not None and lease.charged:
            for i in (1, 2):
                delta = lease.reserved[i] - real[i]
                if delta > 0 and i == 1 and self.pulled[1] > lease.pulled_input + 1.0:
                    # A reading pulled the input bucket down to the server's level while
                    # this call ran; the server charged it its real input, so that level
                    # already excludes our over-estimate: refunding it would count it twice.
                    continue
                if delta > 0:
                    credited = buckets[i].refund(delta, now)
                    self.refunded[i] += credited
                    returned = returned or credited > 0
                elif delta < 0:
                    buckets[i].take(-delta, now)
                    self.debt_charged[i] -= delta
            if self.learners is not None and input_tokens > 0:
                # The server accepted this input at once, so its burst holds at least that.
                self.learn_lower(1, float(input_tokens), now)
        for i in (0, 1, 2):
            self.used[i].add(now, real[i])
        return returned

    def release(self, lease: Lease, now: float) -> None:
        """End without usage: conservatively nothing is refunded."""
        self._end(lease, now)
        lease.state = LeaseState.RELEASED
        self.released += 1
        for i in (0, 1, 2):
            self.used[i].add(now, lease.reserved[i])

    def pause(self, until: float, *, fraction: float, duration: float) -> None:
        """Stop admitting until `until` (extending, never shortening), then ramp from `fraction`."""
        ramp = self.ramp
        if until <= self.paused_until:
            # Already paused at least that long: keep one pause, but honour a gentler ramp.
            if fraction < ramp.fraction or duration > ramp.duration:
                ramp.begin(
                    self.paused_until,
                    fraction=min(fraction, ramp.fraction),
                    duration=max(duration, ramp.duration),
                )
            return
        if ramp.start >= self.paused_until and self.paused_until > -math.inf:
            # The previous pause's ramp has not begun yet: merge rather than forget it.
            fraction = min(fraction, ramp.fraction)
            duration = max(duration, ramp.duration)
        self.paused_until = until
        ramp.begin(until, fraction=fraction, duration=duration)

    # -- statistics ----------------------------------------------------------------------

    def statistics(self, now: float) -> ModelClassStatistics:
        """A frozen snapshot of this class."""
        return class_statistics(self, now)
