"""Declared output sizes in `BudgetedCaller` (legacy accounting): trusted until outrun."""

from __future__ import annotations

import asyncio

import pytest

from agents.client import LLMRequest
from agents.scripted import ScriptedLLM, ScriptedReply
from agents.usage import Usage
from orchestrator.budget import Budget, RampConfig
from orchestrator.call import BudgetedCaller, CallOptions
from orchestrator.limits import ModelLimits

#: Output room for every call's own 4,000 at once: nothing is held back by the bucket.
ROOMY = ModelLimits(rpm=10_000, itpm=10_000_000, otpm=1_000_000)
REAL_OUTPUT = 600  # every answer's real length, six times the declared 100


def _answer(request: LLMRequest) -> ScriptedReply:
    produced = min(REAL_OUTPUT, request.max_tokens)
    cut = produced < REAL_OUTPUT
    return ScriptedLLM.text(
        "x" * produced,
        stop_reason="max_tokens" if cut else "end_turn",
        usage=Usage(input_tokens=10, output_tokens=produced),
    )


def _request(i: int) -> LLMRequest:
    return LLMRequest(
        model="claude-sonnet-5", max_tokens=4_000, messages=[{"role": "user", "content": f"q{i}"}]
    )


async def _wave(caller: BudgetedCaller, first: int, n: int) -> list[int]:
    outcomes = await asyncio.gather(
        *(
            caller.call(
                _request(i), CallOptions(task_id=f"t{i}", kind="k", expected_output_tokens=100)
            )
            for i in range(first, first + n)
        )
    )
    return [o.attempts for o in outcomes]


@pytest.mark.looptime
async def test_a_kind_whose_declaration_was_outrun_is_sized_like_an_undeclared_one() -> None:
    llm = ScriptedLLM.from_function(_answer, latency=5.0)
    caller = BudgetedCaller(llm, Budget(ROOMY, mode="legacy", ramp=RampConfig.off()))
    # The declared 100 sizes max_tokens at 100 x 1.3 x 1.5 = 195: every answer is cut
    # short and sent again with the caller's 4,000.
    assert await _wave(caller, 0, 3) == [2, 2, 2]
    assert sorted(call.max_tokens for call in llm.calls) == [195] * 3 + [4_000] * 3
    # From then on the kind goes as undeclared kinds do: with the output bucket far from
    # binding, with the caller's own max_tokens, and nothing is cut short.
    llm.calls.clear()
    assert await _wave(caller, 3, 5) == [1] * 5
    assert [call.max_tokens for call in llm.calls] == [4_000] * 5


@pytest.mark.looptime
async def test_actual_accounting_and_kept_declarations_are_left_alone() -> None:
    # Actual accounting sends the caller's max_tokens anyway; a declaration that holds
    # (answers within the sized max_tokens) keeps sizing its kind.
    llm = ScriptedLLM.from_function(_answer, latency=5.0)
    caller = BudgetedCaller(llm, Budget(ROOMY, mode="actual", ramp=RampConfig.off()))
    assert await _wave(caller, 0, 3) == [1, 1, 1]
    assert [call.max_tokens for call in llm.calls] == [4_000] * 3

    llm = ScriptedLLM.from_function(_answer, latency=5.0)
    caller = BudgetedCaller(llm, Budget(ROOMY, mode="legacy", ramp=RampConfig.off()))
    outcomes = await asyncio.gather(
        *(
            caller.call(
                _request(i), CallOptions(task_id=f"t{i}", kind="k", expected_output_tokens=500)
            )
            for i in range(6)
        )
    )
    # 500 x 1.95 = 975 covers the 600 produced: the declared size stays in force.
    assert [o.attempts for o in outcomes] == [1] * 6
    assert {call.max_tokens for call in llm.calls} == {975}
