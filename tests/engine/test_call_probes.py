"""Output-size probing in `BudgetedCaller`: unknown kinds send a few calls first."""

from __future__ import annotations

import asyncio

import pytest

from agents.client import LLMRequest
from agents.scripted import ScriptedLLM
from orchestrator.budget import Budget
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
    caller = BudgetedCaller(llm, Budget(LIMITS, mode="legacy"), probes=5)
    outcomes = await asyncio.gather(
        *(caller.call(_request(i), CallOptions(task_id=f"t{i}", kind="k")) for i in range(20))
    )
    sent = [o.max_tokens_sent for o in outcomes]
    assert sorted(sent)[-5:] == [8192] * 5  # the probes, sized before anything was known
    assert max(sorted(sent)[:15]) < 1000  # the rest, sized from the probes' ~100 tokens
    assert asyncio.get_running_loop().time() == pytest.approx(10, abs=0.5)


@pytest.mark.looptime
async def test_no_probing_by_default_or_with_a_declared_output() -> None:
    llm = ScriptedLLM.from_function(lambda request: "x" * 400, latency=5.0)
    caller = BudgetedCaller(llm, Budget(LIMITS, mode="legacy"))
    await asyncio.gather(
        *(caller.call(_request(i), CallOptions(task_id=f"t{i}", kind="k")) for i in range(10))
    )
    assert asyncio.get_running_loop().time() == pytest.approx(5, abs=0.5)
