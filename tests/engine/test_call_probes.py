"""Output-size probing in `BudgetedCaller`: unknown kinds send a few calls first."""

from __future__ import annotations

import asyncio

import pytest

from agents.client import LLMRequest
from agents.scripted import ScriptedLLM
from orchestrator.budget import Budget, RampConfig
from orchestrator.call import BudgetedCaller, CallOptions
from orchestrator.limits import ModelLimits

LIMITS = ModelLimits(rpm=10_000, itpm=10_000_000, otpm=1_000_000)


def _request(i: int) -> LLMRequest:
    return LLMRequest(
        model="claude-sonnet-5",
        max_tokens=8192,
        messages=[{"role": "user", "content": f"q{i}"}],
    )


@pytest.mark.looptime
async def test_probes_go_first_and_the_rest_is_sized_from_them() -> None:
    llm = ScriptedLLM.from_function(lambda request: "x" * 400, latency=5.0)
    # Output room for the five probes' 8192 each and little more: the rest cannot all go
    # with their declared max_tokens, so the learned size decides how many go at once.
    tight = ModelLimits(rpm=10_000, itpm=10_000_000, otpm=41_000)
    budget = Budget(tight, mode="legacy", ramp=RampConfig.off())
    caller = BudgetedCaller(llm, budget, probes=5)
    outcomes = await asyncio.gather(
        *(caller.call(_request(i), CallOptions(task_id=f"t{i}", kind="k")) for i in range(20))
    )
    sent = sorted(o.max_tokens_sent for o in outcomes)
    assert sent[-5:] == [8192] * 5  # the probes, sized before anything was known
    # The rest, sized from the probes' ~100 tokens once the bucket is short (the first
    # few still find room for their own 8192).
    assert sum(size < 1000 for size in sent) >= 10
    assert asyncio.get_running_loop().time() == pytest.approx(10, abs=0.5)


@pytest.mark.looptime
async def test_with_ample_output_room_calls_keep_their_own_max_tokens() -> None:
    # Right-sizing is a bet (a longer answer is cut short and sent again); with the output
    # bucket far from binding there is nothing to win by it.
    llm = ScriptedLLM.from_function(lambda request: "x" * 400, latency=5.0)
    caller = BudgetedCaller(llm, Budget(LIMITS, mode="legacy"), probes=5)
    outcomes = await asyncio.gather(
        *(caller.call(_request(i), CallOptions(task_id=f"t{i}", kind="k")) for i in range(20))
    )
    assert [o.max_tokens_sent for o in outcomes] == [8192] * 20
    assert asyncio.get_running_loop().time() == pytest.approx(10, abs=0.5)


@pytest.mark.looptime
async def test_no_probing_by_default_or_with_a_declared_output() -> None:
    llm = ScriptedLLM.from_function(lambda request: "x" * 400, latency=5.0)
    caller = BudgetedCaller(llm, Budget(LIMITS, mode="legacy"))
    await asyncio.gather(
        *(caller.call(_request(i), CallOptions(task_id=f"t{i}", kind="k")) for i in range(10))
    )
    assert asyncio.get_running_loop().time() == pytest.approx(5, abs=0.5)
