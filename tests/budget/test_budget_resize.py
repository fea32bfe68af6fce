"""Re-sizing waiting leases (`Budget.resize`) when the caller learns output sizes."""

from __future__ import annotations

import asyncio

import pytest
from budget_helpers import SONNET, usage

from orchestrator.budget import Budget, Lease, RampConfig
from orchestrator.limits import ModelLimits

pytestmark = pytest.mark.looptime

# Output is the only bucket that binds: 10k burst, 10k/min.
LIMITS = ModelLimits(rpm=10_000, itpm=10_000_000, otpm=10_000)


def budget(mode: str = "legacy") -> Budget:
    return Budget(LIMITS, mode=mode, policy="fifo", ramp=RampConfig.off())  # type: ignore[arg-type]


async def test_waiting_leases_take_a_new_sizing_when_they_reach_the_head() -> None:
    b = budget()
    first = await b.acquire("first", model=SONNET, input_tokens=10, max_tokens=8_000)
    waiting = [
        asyncio.create_task(
            b.acquire(f"w{i}", model=SONNET, input_tokens=10, max_tokens=8_000, sizing_key="k")
        )
        for i in range(4)
    ]
    untagged = asyncio.create_task(
        b.acquire("plain", model=SONNET, input_tokens=10, max_tokens=8_000)
    )
    await asyncio.sleep(0)
    assert b.statistics()["sonnet-5"].output_tokens.waiting_demand == 5 * 8_000

    b.resize(SONNET, "k", output_tokens=500, max_tokens=900)
    first.settle(usage(10, 400))  # refunds 7,600: four right-sized leases fit at once
    await asyncio.sleep(0)
    leases: list[Lease] = [task.result() for task in waiting]
    assert [lease.max_tokens for lease in leases] == [900] * 4
    assert [lease.reserved_output for lease in leases] == [900.0] * 4
    assert [lease.output_tokens for lease in leases] == [500] * 4
    # The untagged lease keeps its 8,000 and waits for the bucket to refill.
    assert not untagged.done()
    assert b.statistics()["sonnet-5"].output_tokens.waiting_demand == pytest.approx(8_000)
    untagged.cancel()


async def test_a_resize_never_lifts_a_lease_above_what_its_caller_asked() -> None:
    b = budget()
    first = await b.acquire("first", model=SONNET, input_tokens=10, max_tokens=9_000)
    task = asyncio.create_task(
        b.acquire("small", model=SONNET, input_tokens=10, max_tokens=600, sizing_key="k")
    )
    await asyncio.sleep(0)
    b.resize(SONNET, "k", output_tokens=3_000, max_tokens=4_000)
    first.settle(usage(10, 9_000))
    lease = await task
    assert (lease.max_tokens, lease.output_tokens, lease.reserved_output) == (600, 600, 600.0)


async def test_actual_mode_keeps_max_tokens_and_reserves_the_new_expected_output() -> None:
    b = budget("actual")
    first = await b.acquire(
        "first", model=SONNET, input_tokens=10, max_tokens=8_000, output_tokens=9_000
    )
    tasks = [
        asyncio.create_task(
            b.acquire(f"w{i}", model=SONNET, input_tokens=10, max_tokens=8_000, sizing_key="k")
        )
        for i in range(3)
    ]
    await asyncio.sleep(0)
    b.resize(SONNET, "k", output_tokens=700)
    first.settle(usage(10, 5_000))
    leases = [await task for task in tasks]
    # max_tokens stays what the split policy allowed at enqueue (half the output bucket).
    assert [(lease.max_tokens, lease.reserved_output) for lease in leases] == [(5_000, 700.0)] * 3


async def test_the_same_sizing_published_twice_re_sizes_nothing_again() -> None:
    b = budget()
    b.resize(SONNET, "k", output_tokens=500, max_tokens=900)
    b.resize(SONNET, "k", output_tokens=500, max_tokens=900)
    assert b.account(SONNET).sizings["k"].epoch == 1
    b.resize(SONNET, "k", output_tokens=520, max_tokens=900)
    assert b.account(SONNET).sizings["k"].epoch == 2
