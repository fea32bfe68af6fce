"""The manager's synthesis: one call when the results fit, hierarchical reduction otherwise."""

from __future__ import annotations

import re

import pytest

from agents import LLMRequest, ScriptedLLM
from agents._plan_reduce import approx_tokens, pack, split_text
from agents.estimate import InputEstimator
from agents.manager import Manager

pytestmark = pytest.mark.looptime


def prompt_of(request: LLMRequest) -> str:
    return "".join(b["text"] for b in request.messages[-1]["content"])


def summariser(calls: list[LLMRequest]) -> ScriptedLLM:
    """Answers each call with a short note naming the results it saw."""

    def answer(request: LLMRequest) -> str:
        calls.append(request)
        seen = re.findall(r'<result task="([^"]+)">', prompt_of(request))
        return "notes on " + ", ".join(seen)

    return ScriptedLLM.from_function(answer)


async def test_results_that_fit_are_merged_in_one_call() -> None:
    calls: list[LLMRequest] = []
    manager = Manager(summariser(calls), models=["claude-opus-5", "claude-haiku-5"])
    answer = await manager.synthesize("Compare", {"a": "alpha facts", "b": "beta facts"})
    assert answer == "notes on a, b"
    (call,) = calls
    assert call.model == "claude-opus-5"  # the planner's (strongest) model synthesises
    text = prompt_of(call)
    assert "alpha facts" in text and "beta facts" in text
    assert text.endswith("Write the final answer to the goal from these results.")
    assert manager.calls == 1 and manager.usage.output_tokens > 0


async def test_oversized_results_are_reduced_in_batches_then_merged() -> None:
    calls: list[LLMRequest] = []
    manager = Manager(summariser(calls))
    # 12 results of ~1,200 tokens and one of ~9,000, against a 4,000-token context.
    results = {f"r{i}": f"finding {i}. " * 400 for i in range(12)}
    results["huge"] = "huge\n" + "line of a very long result\n" * 1_200
    answer = await manager.synthesize("Summarise", results, max_input_tokens=4_000)
    estimator = InputEstimator(margin=1.0)
    for call in calls:
        assert estimator.raw(call) <= 4_000  # every call fits the context
    final = calls[-1]
    assert answer.startswith("notes on notes ")
    assert "Write the final answer" in prompt_of(final)
    first_level = [c for c in calls if 'task="notes ' not in prompt_of(c)]
    assert len(first_level) > 1
    seen = " ".join(prompt_of(c) for c in first_level)
    for i in range(12):
        assert f"finding {i}. " in seen  # every result reached a condensing call
    assert re.search(r'task="huge \(part 1/\d+\)"', seen)  # the oversized one was cut
    assert len(calls) == manager.calls


async def test_a_context_too_small_for_the_instructions_is_refused() -> None:
    manager = Manager(ScriptedLLM([]))
    with pytest.raises(ValueError, match="max_input_tokens=300 is too small to synthesize"):
        await manager.synthesize("goal", {"a": "x"}, max_input_tokens=300)
    with pytest.raises(ValueError, match="no results to synthesize"):
        await manager.synthesize("goal", {})


def test_pack_keeps_order_and_splits_only_what_does_not_fit() -> None:
    results = {"a": "x" * 700, "b": "y" * 700, "c": "z" * 3_000}
    batches = pack(results, 500, approx_tokens)
    keys = [k for batch in batches for k in batch]
    assert keys[:2] == ["a", "b"] and all(k.startswith("c (part ") for k in keys[2:])
    assert "".join(v for batch in batches for k, v in batch.items() if k.startswith("c")) == (
        "z" * 3_000
    )
    for batch in batches:
        assert sum(approx_tokens(v) for v in batch.values()) <= 500
    assert split_text("short", 100, approx_tokens) == ["short"]
    assert pack({}, 100, approx_tokens) == [{}]
