"""The async Budget in virtual time (looptime): admission, backoff, ramp, cancellation."""

from __future__ import annotations

import asyncio
import random

import pytest
from budget_helpers import SONNET, snapshot, usage

from agents.errors import ErrorKind, LLMError
from orchestrator.budget import (
    Budget,
    Lease,
    LeaseState,
    LeaseStateError,
    RampConfig,
    RequestTooLarge,
    SpendLimitReached,
)
from orchestrator.clock import LoopClock
from orchestrator.limits import BucketKind, ModelLimits
from orchestrator.lowerbound import DagNode, lower_bound

pytestmark = pytest.mark.looptime

HAIKU = "claude-haiku-4-5"
TIER2 = ModelLimits(rpm=1_000, itpm=450_000, otpm=90_000)
SMALL = ModelLimits(rpm=60, itpm=30_000, otpm=6_000)


def now() -> float:
    return asyncio.get_running_loop().time()


class ReferenceServer:
    """An independent token bucket per limit: what a server would see of our traffic."""

    def __init__(self, limits: ModelLimits) -> None:
        kinds = (BucketKind.REQUESTS, BucketKind.INPUT, BucketKind.OUTPUT)
        self.cap = [limits.capacity(k) for k in kinds]
        self.rate = [limits.rate(k) for k in kinds]
        self.level = list(self.cap)
        self.t = 0.0
        self.lowest = [float("inf")] * 3

    def _refill(self, t: float) -> None:
        for i in range(3):
            self.level[i] = min(self.cap[i], self.level[i] + self.rate[i] * (t - self.t))
        self.t = t

    def charge(self, t: float, amounts: tuple[float, float, float]) -> None:
        self._refill(t)
        for i in range(3):
            self.level[i] -= amounts[i]
            self.lowest[i] = min(self.lowest[i], self.level[i])

    def refund(self, t: float, amounts: tuple[float, float, float]) -> None:
        self._refill(t)
        for i in range(3):
            self.level[i] = min(self.cap[i], self.level[i] + amounts[i])


async def test_thousand_concurrent_leases_stay_within_capacity_and_near_the_bound() -> None:
    rng = random.Random(7)
    budget = Budget(TIER2, mode="legacy", ramp=RampConfig.off())
    server = ReferenceServer(TIER2)
    nodes = []

    async def worker(i: int) -> None:
        size = rng.randint(1_000, 20_000)
        out = rng.randint(300, 1_500)
        latency = 1.0 + out / 100
        nodes.append(DagNode(id=str(i), input_tokens=size, output_tokens=out, latency=latency))
        async with budget.lease(
            f"t{i}", model=SONNET, input_tokens=size, max_tokens=2_000, output_tokens=900
        ) as lease:
            server.charge(now(), lease.reserved)
            await asyncio.sleep(latency)
            server.refund(now(), (0.0, 0.0, lease.reserved_output - out))
            lease.settle(usage(size, out))

    await asyncio.gather(*(worker(i) for i in range(1_000)))
    makespan = now()
    # A server with the same limits would never have refused one of these calls.
    assert min(server.lowest) >= -1e-6
    stats = budget.statistics()["sonnet-5"]
    for bucket in (stats.requests, stats.input_tokens, stats.output_tokens):
        assert bucket is not None
        net = bucket.granted - bucket.refunded + bucket.debt_charged
        assert net <= bucket.capacity + bucket.rate * makespan + 1e-6
    assert stats.admitted == stats.settled == 1_000
    lb = lower_bound(nodes, TIER2, mode="legacy")
    assert lb.binding == "input"
    assert lb.ratio(makespan) <= 1.02


async def test_429_pauses_everyone_until_retry_after_then_ramps() -> None:
    budget = Budget(
        SMALL, mode="legacy", ramp=RampConfig(start_fraction=0.2, duration=10.0, on_start=False)
    )
    admitted: list[float] = []

    async def worker(i: int) -> None:
        async with budget.lease(f"t{i}", model=SONNET, input_tokens=1_000, max_tokens=100) as lease:
            admitted.append(now())
            await asyncio.sleep(0.5)
            lease.settle(usage(1_000, 100))

    first = asyncio.create_task(worker(0))
    await asyncio.sleep(0.1)
    err = LLMError(ErrorKind.RATE_LIMITED, "slow down", retry_after=5.0, limit="requests")
    for _ in range(10):  # a storm of concurrent 429s is one pause, not ten
        budget.report_error(SONNET, err)
    assert budget.statistics()["sonnet-5"].paused_until == pytest.approx(5.1)
    await asyncio.gather(first, *(worker(i) for i in range(1, 30)))
    later = admitted[1:]
    assert min(later) >= 5.1 - 1e-6
    # The requests bucket was drained to 0 at t=0.1 and refills at 1/s: 5 at the end of the
    # pause, then one per second, not a burst.
    assert sum(1 for t in later if t <= 5.1 + 1e-3) == 5
    assert sum(1 for t in later if t <= 10.1 + 1e-3) == 10
    assert budget.statistics()["sonnet-5"].rate_limited == 10


async def test_ramp_after_a_pause_spreads_the_full_bucket() -> None:
    limits = ModelLimits(rpm=600, itpm=60_000, otpm=60_000)
    budget = Budget(
        limits, mode="legacy", ramp=RampConfig(start_fraction=0.1, duration=10.0, on_start=False)
    )
    budget.report_error(SONNET, LLMError(ErrorKind.RATE_LIMITED, "x", retry_after=2.0))
    admitted: list[float] = []

    async def worker(i: int) -> None:
        async with budget.lease(f"t{i}", model=SONNET, input_tokens=1_000, max_tokens=10) as lease:
            admitted.append(now())
            lease.settle(usage(1_000, 10))

    await asyncio.gather(*(worker(i) for i in range(60)))
    # Allowance: 6,000 at t=2, then 0.9*60k/10 + 1k = 6.4k per second.
    assert sum(1 for t in admitted if t <= 2.0 + 1e-6) == 6
    for t in (3.0, 5.0, 8.0):
        assert sum(1 for a in admitted if a <= t) <= 6 + int(6.4 * (t - 2.0)) + 1


async def test_acceleration_limit_pauses_every_model_class() -> None:
    budget = Budget(SMALL, ramp=RampConfig(acceleration_fraction=0.05, acceleration_duration=20.0))
    async with budget.lease("warm", model=HAIKU, input_tokens=10, max_tokens=10) as lease:
        lease.settle(usage(10, 10))
    err = LLMError(
        ErrorKind.ACCELERATION, "ramp", retry_after=3.0, error_code="ramp_limit_exceeded"
    )
    budget.report_error(SONNET, err)
    stats = budget.statistics()
    assert stats["sonnet-5"].paused_until == 3.0
    assert stats["haiku-4"].paused_until == 3.0
    async with budget.lease("x", model=HAIKU, input_tokens=10, max_tokens=10) as lease:
        assert now() == pytest.approx(3.0, abs=1e-3)
        lease.settle(usage(10, 10))
    assert budget.statistics()["haiku-4"].ramping_until == pytest.approx(23.0)


async def test_spend_limit_fails_every_waiting_and_future_lease() -> None:
    budget = Budget(SMALL, ramp=RampConfig.off())
    hog = await budget.acquire("hog", model=SONNET, input_tokens=30_000, max_tokens=10)
    waiters = [
        asyncio.create_task(
            budget.acquire(f"w{i}", model=SONNET, input_tokens=1_000, max_tokens=10)
        )
        for i in range(5)
    ]
    await asyncio.sleep(0.5)
    budget.report_error(
        SONNET, LLMError(ErrorKind.SPEND_LIMIT, "cap", error_code="enforced_spend_limit_reached")
    )
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, SpendLimitReached) for r in results)
    with pytest.raises(SpendLimitReached, match="spend limit"):
        await budget.acquire("late", model=SONNET, input_tokens=1, max_tokens=1)
    hog.settle(usage(30_000, 10))  # calls already running still settle normally
    assert budget.spend_limit_reached and budget.statistics().spend_limit_reached
    assert now() == pytest.approx(0.5)


async def test_cancelled_waiter_takes_nothing_and_does_not_block_others() -> None:
    budget = Budget(SMALL, ramp=RampConfig.off())
    hog = await budget.acquire("hog", model=SONNET, input_tokens=30_000, max_tokens=10)
    big = asyncio.create_task(
        budget.acquire("big", model=SONNET, input_tokens=25_000, max_tokens=10)
    )
    small = asyncio.create_task(
        budget.acquire("small", model=SONNET, input_tokens=1_000, max_tokens=10)
    )
    await asyncio.sleep(1.0)
    big.cancel()
    with pytest.raises(asyncio.CancelledError):
        await big
    lease = await small
    assert now() == pytest.approx(2.0, abs=1e-3)  # 1,000 tokens at 500/s, not 50 s
    stats = budget.statistics()["sonnet-5"]
    assert stats.waiting == 0 and stats.input_tokens is not None
    assert stats.input_tokens.granted == 31_000
    hog.release()
    lease.release()


async def test_cancel_right_after_admission_gives_the_grant_back() -> None:
    budget = Budget(SMALL, ramp=RampConfig.off())
    hog = await budget.acquire("hog", model=SONNET, input_tokens=30_000, max_tokens=10)
    task = asyncio.create_task(budget.acquire("w", model=SONNET, input_tokens=2_000, max_tokens=10))
    await asyncio.sleep(0.1)
    acct = budget.account(SONNET)
    assert acct.buckets is not None
    hog.settle(usage(10_000, 10))  # refund admits the waiter synchronously...
    level = acct.buckets[1].level(now())
    task.cancel()  # ...but its task is cancelled before it resumes
    with pytest.raises(asyncio.CancelledError):
        await task
    assert acct.buckets[1].level(now()) == pytest.approx(level + 2_000)
    assert acct.in_flight == 0
    assert budget.statistics()["sonnet-5"].input_tokens.granted == 30_000  # type: ignore[union-attr]


async def test_too_large_request_raises_at_once() -> None:
    budget = Budget(ModelLimits(rpm=50, itpm=30_000, otpm=8_000))
    with pytest.raises(RequestTooLarge) as info:
        async with budget.lease("summarise", model=SONNET, input_tokens=45_000, max_tokens=100):
            pass
    assert "task 'summarise' needs 45,000 input tokens" in str(info.value)
    assert "holds at most 30,000 (ITPM 30,000); split the input or raise the limit" in str(
        info.value
    )
    assert now() == 0.0


async def test_exit_without_settle_refunds_nothing_even_on_error() -> None:
    budget = Budget(SMALL, ramp=RampConfig.off())
    with pytest.raises(RuntimeError):
        async with budget.lease("a", model=SONNET, input_tokens=10_000, max_tokens=1_000) as lease:
            raise RuntimeError("the call died")
    assert lease.state is LeaseState.RELEASED
    stats = budget.statistics()["sonnet-5"]
    assert stats.input_tokens is not None and stats.input_tokens.available == 20_000
    assert stats.output_tokens is not None and stats.output_tokens.refunded == 0
    assert stats.released == 1 and stats.in_flight == 0


async def test_settle_twice_raises_and_never_double_refunds() -> None:
    budget = Budget(SMALL, ramp=RampConfig.off())
    async with budget.lease("a", model=SONNET, input_tokens=10_000, max_tokens=1_000) as lease:
        lease.settle(usage(5_000, 100))
        with pytest.raises(LeaseStateError):
            lease.settle(usage(0, 0))
    stats = budget.statistics()["sonnet-5"]
    assert stats.input_tokens is not None and stats.input_tokens.refunded == 5_000


async def test_debt_from_an_overshoot_delays_the_next_admission() -> None:
    budget = Budget(SMALL, mode="actual", ramp=RampConfig.off())
    async with budget.lease(
        "a", model=SONNET, input_tokens=1_000, max_tokens=6_000, output_tokens=1_000
    ) as lease:
        lease.settle(usage(1_000, 6_000))  # 5,000 more output than reserved
    async with budget.lease(
        "b", model=SONNET, input_tokens=1_000, max_tokens=2_000, output_tokens=1_000
    ) as lease:
        # 6000 - 6000 = 0 left. The overshoot also taught the class that its calls produce
        # more than reserved: real/reserved averages 1 + 0.1 * (6 - 1) = 1.5, so this
        # lease's 1,000 is reserved as 1,500 — at 100/s, 15 s.
        assert now() == pytest.approx(15.0, abs=1e-3)
        lease.settle(usage(1_000, 1_000))


async def test_observe_pulls_the_bucket_down_and_delays_admission() -> None:
    budget = Budget(SMALL, ramp=RampConfig.off())
    budget.observe(SONNET, snapshot(input_tokens=(30_000, 0)))  # someone else used it all
    async with budget.lease("a", model=SONNET, input_tokens=3_000, max_tokens=10) as lease:
        assert now() == pytest.approx(5.0, abs=1e-3)  # (3,000 - 500) / 500 per s
        lease.settle(usage(3_000, 10), snapshot(input_tokens=(30_000, 0)))


async def test_unknown_limits_are_discovered_from_the_first_response() -> None:
    budget = Budget(None, ramp=RampConfig.off())
    first = await budget.acquire("probe", model=SONNET, input_tokens=1_000, max_tokens=100)
    second = asyncio.create_task(
        budget.acquire("next", model=SONNET, input_tokens=1_000, max_tokens=100)
    )
    too_big = asyncio.create_task(
        budget.acquire("huge", model=SONNET, input_tokens=50_000, max_tokens=100)
    )
    await asyncio.sleep(1.0)
    assert not second.done()
    first.settle(
        usage(1_000, 100),
        snapshot(requests=(50, 49), input_tokens=(30_000, 29_000), output_tokens=(8_000, 8_000)),
    )
    lease = await second
    assert now() == pytest.approx(1.0)
    with pytest.raises(RequestTooLarge, match="ITPM 30,000"):
        await too_big
    assert budget.limits(SONNET) == ModelLimits(rpm=50, itpm=30_000, otpm=8_000)
    lease.release()


async def test_waiting_sleeps_on_the_clock_without_polling() -> None:
    class CountingClock(LoopClock):
        sleeps = 0

        async def sleep(self, seconds: float) -> None:
            CountingClock.sleeps += 1
            await super().sleep(seconds)

    budget = Budget(SMALL, clock=CountingClock(), ramp=RampConfig.off())

    async def worker(i: int) -> None:
        async with budget.lease(f"t{i}", model=SONNET, input_tokens=3_000, max_tokens=10) as lease:
            await asyncio.sleep(1.0)
            lease.settle(usage(3_000, 10))

    await asyncio.gather(*(worker(i) for i in range(100)))
    # 90 leases had to wait for refill: about one timed wake-up each, never a polling loop.
    assert CountingClock.sleeps <= 2 * 90
    assert now() == pytest.approx((100 * 3_000 - 30_000) / 500 + 1.0, abs=0.01)


async def test_limits_per_model_class_and_unknown_models() -> None:
    budget = Budget({"claude-sonnet-5": SMALL, "haiku-4": TIER2}, ramp=RampConfig.off())
    assert budget.limits(SONNET) == SMALL
    assert budget.limits("claude-haiku-4-5-20251001") == TIER2
    assert budget.model_class("my-proxy-model") == "my-proxy-model"
    async with budget.lease("p", model="my-proxy-model", input_tokens=10, max_tokens=10) as lease:
        lease.settle(usage(10, 10))
    assert budget.statistics()["my-proxy-model"].input_tokens is None  # no limits known yet
    with pytest.raises(TypeError, match="ModelLimits"):
        Budget({"sonnet-5": 5})  # type: ignore[dict-item]


async def test_max_tokens_cap_and_policy_cap() -> None:
    budget = Budget(SMALL, mode="legacy", max_tokens_cap=1_000, ramp=RampConfig.off())
    lease: Lease = await budget.acquire(
        "a", model=SONNET, input_tokens=10, max_tokens=8_000, output_tokens=400
    )
    assert lease.max_tokens == 1_000 and lease.reserved_output == 1_000
    lease.release()
    budget = Budget(SMALL, mode="legacy", ramp=RampConfig.off())
    lease = await budget.acquire(
        "b", model=SONNET, input_tokens=10, max_tokens=5_000, output_tokens=400
    )
    assert lease.max_tokens == 3_000  # half the 6,000 output bucket
    lease.release()


async def test_statistics_counts_429s_and_utilisation() -> None:
    budget = Budget(SMALL, ramp=RampConfig.off())
    for i in range(3):
        async with budget.lease(
            f"t{i}", model=SONNET, input_tokens=5_000, max_tokens=500, output_tokens=100
        ) as lease:
            await asyncio.sleep(1.0)
            lease.settle(usage(5_000, 100))
    budget.report_error(SONNET, LLMError(ErrorKind.RATE_LIMITED, "x", retry_after=1.0))
    stats = budget.statistics()
    cls = stats["sonnet-5"]
    assert cls.rate_limited == 1 and stats.rate_limited == 1
    assert cls.input_tokens is not None and cls.input_tokens.used_10s == 15_000
    assert cls.input_tokens.utilisation_60s == pytest.approx(15_000 / 30_000)
    assert cls.paused_until == pytest.approx(4.0)
    assert list(stats) == ["sonnet-5"] and len(stats) == 1
    with pytest.raises(KeyError, match="known: sonnet-5"):
        stats["opus-5"]


async def test_lease_level_feedback_progress_observe_and_429() -> None:
    budget = Budget(
        ModelLimits(rpm=600, itpm=60_000, otpm=60_000), mode="actual", ramp=RampConfig.off()
    )
    leases = [
        await budget.acquire(
            f"t{i}", model=SONNET, input_tokens=1_000, max_tokens=2_000, output_tokens=1_000
        )
        for i in range(5)
    ]
    acct = budget.account(SONNET)
    assert acct.pending_output == 5_000
    leases[0].progress(400)
    assert acct.pending_output == 4_600
    # At a stream's start: the server shows its full output bucket; ours is 5,000 lower.
    leases[0].observe(snapshot(output_tokens=(60_000, 60_000)))
    assert acct.buckets is not None and acct.buckets[2].level(now()) == 55_000
    # Two calls get 429 although we had drawn only 3,000 and 4,000 from a full bucket.
    for lease in leases[2:4]:
        lease.report_error(
            LLMError(ErrorKind.RATE_LIMITED, "x", retry_after=1.0, limit="input_tokens")
        )
    assert acct.buckets[1].capacity == 3_000  # the smaller of the two bounds
    assert budget.statistics()["sonnet-5"].paused_until == pytest.approx(1.0)
    for lease in leases:
        lease.release()


async def test_overloaded_pauses_only_when_configured() -> None:
    from orchestrator.budget import BackoffConfig

    err = LLMError(ErrorKind.OVERLOADED, "busy", status_code=529, retry_after=30.0)
    budget = Budget(SMALL)
    budget.report_error(SONNET, err)
    assert budget.statistics()["sonnet-5"].paused_until is None
    budget = Budget(SMALL, backoff=BackoffConfig(overloaded_pause=2.0, max_overloaded_pause=5.0))
    budget.report_error(SONNET, err)
    assert budget.statistics()["sonnet-5"].paused_until == pytest.approx(5.0)
    budget.report_error(SONNET, LLMError(ErrorKind.SERVER, "500"))  # ignored
    assert budget.statistics()["sonnet-5"].rate_limited == 0


async def test_ramp_after_idle_in_the_shell() -> None:
    limits = ModelLimits(rpm=600, itpm=60_000, otpm=60_000)
    ramp = RampConfig(start_fraction=0.1, duration=10.0, idle_after=30.0, on_start=False)
    budget = Budget(limits, ramp=ramp)

    async def burst(label: str) -> list[float]:
        times: list[float] = []

        async def one(i: int) -> None:
            async with budget.lease(
                f"{label}{i}", model=SONNET, input_tokens=3_000, max_tokens=10
            ) as lease:
                times.append(now())
                lease.settle(usage(3_000, 10))

        await asyncio.gather(*(one(i) for i in range(10)))
        return times

    first = await burst("a")
    assert max(first) == 0.0  # no ramp at start: 30,000 of 60,000 at once
    await asyncio.sleep(100.0)
    second = await burst("b")
    assert sum(1 for t in second if t == pytest.approx(100.0)) == 2  # 6,000 allowance
    assert max(second) > 103.0


async def test_invalid_construction() -> None:
    with pytest.raises(ValueError, match="mode"):
        Budget(SMALL, mode="bogus")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_tokens_cap"):
        Budget(SMALL, max_tokens_cap=0)
    with pytest.raises(ValueError, match="Did you mean"):
        Budget(SMALL, policy="fiffo")
    budget = Budget(SMALL)
    with pytest.raises(ValueError, match="max_tokens must be >= 1"):
        await budget.acquire("a", model=SONNET, input_tokens=1, max_tokens=0)
    assert "critical_path" in repr(budget)
