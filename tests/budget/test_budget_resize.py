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


async def test_legacy_keeps_the_callers_size_while_the_buckets_have_room() -> None:
    b = budget()
    b.resize(SONNET, "k", output_tokens=500, max_tokens=900)
    # Nobody waits and the bucket is full: the lean size would save nobody anything.
    roomy = await b.acquire(
        "roomy", model=SONNET, input_tokens=10, max_tokens=2_000, sizing_key="k"
    )
    assert (roomy.max_tokens, roomy.reserved_output) == (2_000, 2_000.0)
    # Fill the bucket and queue four more: now the lean size lets the next one go sooner.
    hog = await b.acquire("hog", model=SONNET, input_tokens=10, max_tokens=5_000)
    tasks = [
        asyncio.create_task(
            b.acquire(f"w{i}", model=SONNET, input_tokens=10, max_tokens=2_000, sizing_key="k")
        )
        for i in range(4)
    ]
    await asyncio.sleep(0)
    hog.settle(usage(10, 5_000))
    roomy.settle(usage(10, 2_000))
    leases = [await task for task in tasks]
    # 3,000 left, less than its own 2,000 plus a quarter of the bucket: all go lean.
    assert [lease.max_tokens for lease in leases] == [900, 900, 900, 900]


async def test_caller_waits_for_the_first_wave_before_re_sizing() -> None:
    from agents.client import LLMRequest
    from agents.scripted import ScriptedLLM
    from orchestrator.call import BudgetedCaller, CallOptions

    # Ten calls go at once; the short ones answer first. Re-sizing from the first five
    # would size the long ones' max_tokens from the shortest answers.
    lengths = [100, 100, 100, 100, 100, 900, 900, 900, 900, 900]

    def tokens(request: LLMRequest) -> int:
        return lengths[int(str(request.messages[0]["content"]).split()[-1])]

    async def answer(request: LLMRequest) -> str:
        await asyncio.sleep(tokens(request) / 100.0)  # long answers take longer
        return "x" * (4 * tokens(request))  # ScriptedLLM counts 4 characters a token

    client = ScriptedLLM.from_function(answer)
    # Room for all ten at once: the whole first wave runs together.
    b = Budget(
        ModelLimits(rpm=10_000, itpm=10_000_000, otpm=100_000),
        mode="legacy",
        policy="fifo",
        ramp=RampConfig.off(),
    )
    caller = BudgetedCaller(client, b)
    published: list[tuple[int, float]] = []
    original = b.resize

    def spy(model: str, key: str, *, output_tokens: int, max_tokens: int | None = None) -> None:
        published.append((max_tokens or 0, asyncio.get_running_loop().time()))
        original(model, key, output_tokens=output_tokens, max_tokens=max_tokens)

    b.resize = spy  # type: ignore[method-assign]
    requests = [
        LLMRequest(
            model=SONNET, messages=[{"role": "user", "content": f"task {i}"}], max_tokens=2_000
        )
        for i in range(10)
    ]
    await asyncio.gather(
        *(caller.call(r, CallOptions(task_id=f"t{i}", kind="k")) for i, r in enumerate(requests))
    )
    assert published, "the kind was never re-sized"
    first_max, first_at = published[0]
    # Published only once the slow half of the first wave had answered, so the size
    # covers the long answers.
    assert first_at >= 9.0
    assert first_max >= 900


async def test_actual_mode_running_leases_give_back_their_excess_at_once() -> None:
    b = budget("actual")
    running = await b.acquire("r", model=SONNET, input_tokens=10, max_tokens=8_000, sizing_key="k")
    other = await b.acquire("o", model=SONNET, input_tokens=10, max_tokens=1_000)
    assert running.reserved_output == 8_000.0
    waiting = asyncio.create_task(
        b.acquire("w", model=SONNET, input_tokens=10, max_tokens=8_000, sizing_key="k")
    )
    await asyncio.sleep(0)
    assert not waiting.done()  # 10k burst: 9,000 held
    # The kind is learned while the first call still runs: it keeps 700 (its max_tokens
    # on the wire is unchanged), gives 7,300 back, and the waiting one goes at once.
    b.resize(SONNET, "k", output_tokens=700)
    await asyncio.sleep(0)
    assert running.reserved_output == 700.0 and running.max_tokens == 8_000
    assert waiting.done() and waiting.result().reserved_output == 700.0
    assert other.reserved_output == 1_000.0  # untagged: untouched
    stats = b.statistics()["sonnet-5"].output_tokens
    assert stats.available == pytest.approx(10_000 - 700 - 1_000 - 700)
    # Settling refunds against the trimmed reservation; a later, larger sizing never
    # lifts a running lease again.
    b.resize(SONNET, "k", output_tokens=5_000)
    assert running.reserved_output == 700.0
    running.settle(usage(10, 650))
    assert b.statistics()["sonnet-5"].output_tokens.available == pytest.approx(
        10_000 - 650 - 1_000 - 700
    )


async def test_legacy_mode_running_leases_keep_what_the_server_admitted() -> None:
    b = budget("legacy")
    running = await b.acquire("r", model=SONNET, input_tokens=10, max_tokens=8_000, sizing_key="k")
    b.resize(SONNET, "k", output_tokens=500, max_tokens=900)
    assert running.reserved_output == 8_000.0
    running.settle(usage(10, 400))


async def test_a_declared_lean_size_stands_until_its_key_has_a_sizing() -> None:
    b = budget()
    # Sized from a declaration (600 of the caller's 2,000): it goes lean even with the
    # bucket full, where a learned lean size would go with the caller's.
    declared = await b.acquire(
        "d0",
        model=SONNET,
        input_tokens=10,
        max_tokens=2_000,
        sizing_key="k",
        lean_max_tokens=600,
    )
    assert (declared.max_tokens, declared.reserved_output) == (600, 600.0)
    # Queued behind a hog, two more declared leases of the kind wait at 600 each.
    hog = await b.acquire("hog", model=SONNET, input_tokens=10, max_tokens=9_000)
    tasks = [
        asyncio.create_task(
            b.acquire(
                f"d{i}",
                model=SONNET,
                input_tokens=10,
                max_tokens=2_000,
                sizing_key="k",
                lean_max_tokens=600,
            )
        )
        for i in (1, 2)
    ]
    await asyncio.sleep(0)
    assert b.statistics()["sonnet-5"].output_tokens.waiting_demand == pytest.approx(1_200)
    # An answer outran the declaration: the caller publishes what the kind taught. The
    # waiting leases take it, and with the bucket roomy again, the caller's own size.
    b.resize(SONNET, "k", output_tokens=1_200, max_tokens=1_500)
    hog.settle(usage(10, 100))
    leases = [await task for task in tasks]
    assert [lease.max_tokens for lease in leases] == [2_000, 2_000]
    # In actual mode max_tokens is not what the server reserves: the lean size is ignored.
    actual = budget("actual")
    lease = await actual.acquire(
        "a", model=SONNET, input_tokens=10, max_tokens=2_000, sizing_key="k", lean_max_tokens=600
    )
    assert lease.max_tokens == 2_000
