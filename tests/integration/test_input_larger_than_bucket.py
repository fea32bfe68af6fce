"""A prompt larger than the server's whole input bucket fails fast, with a clear error."""

from __future__ import annotations

import asyncio

import pytest
from budget_emulator_helpers import MODEL, Recorder, client_on, emulator_config

from agents.client import LLMRequest
from orchestrator.budget import Budget, RampConfig
from orchestrator.call import BudgetedCaller, CallFailed, CallOptions
from orchestrator.emulator import Emulator
from orchestrator.limits import ModelLimits

pytestmark = pytest.mark.looptime

SMALL = ModelLimits(rpm=50, itpm=8_000, otpm=8_000)


def setup(words: int) -> tuple[Recorder, Budget, LLMRequest]:
    """An emulator and a budget at ITPM 8,000, and a prompt of about `words` tokens."""
    recorder = Recorder(Emulator(emulator_config(SMALL)).app)
    request = LLMRequest(
        model=MODEL, messages=[{"role": "user", "content": "word " * words}], max_tokens=100
    )
    return recorder, Budget(SMALL, ramp=RampConfig.off()), request


async def test_an_underestimated_prompt_beyond_the_bucket_fails_after_two_refusals() -> None:
    recorder, budget, request = setup(9_000)
    async with client_on(recorder) as client:
        caller = BudgetedCaller(client, budget)
        # The caller's exact count says 6,000 (it is not): the budget admits it, the
        # server refuses it with its bucket full, waits, and refuses it again.
        with pytest.raises(CallFailed) as failed:
            await caller.call(request, CallOptions(task_id="big", input_tokens=6_000))
    message = str(failed.value)
    assert "after 2 attempt(s) (cannot be retried)" in message
    assert "8,000 input tokens per minute" in message and "Shorten the prompt" in message
    assert len(recorder.rejected) == 2


async def test_a_prompt_that_fits_the_bucket_waits_for_it_instead() -> None:
    recorder, budget, request = setup(4_000)
    async with client_on(recorder) as client:
        caller = BudgetedCaller(client, budget)
        # Two that each fit but not together, estimated far too low so the budget admits
        # both: the second is refused with the bucket not full, waits, and goes.
        outcomes = await asyncio.gather(
            *(
                caller.call(request, CallOptions(task_id=f"t{i}", input_tokens=1_000))
                for i in (0, 1)
            )
        )
    assert all(o.response.usage.input_tokens > 4_000 for o in outcomes)
    assert len(recorder.rejected) >= 1
