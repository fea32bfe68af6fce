"""ScriptedLLM: the public fake of the LLM client seam."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest

from agents import (
    ErrorKind,
    LLMClient,
    LLMError,
    LLMRequest,
    LLMResponse,
    RateLimitSnapshot,
    ScriptedLLM,
    ScriptedReply,
    Usage,
)
from agents._stream import MessageAccumulator
from orchestrator.clock import ManualClock


def ask(text: str, *, model: str = "claude-test-1") -> LLMRequest:
    return LLMRequest(model=model, messages=[{"role": "user", "content": text}], max_tokens=100)


async def test_steps_are_answered_in_order_and_calls_recorded() -> None:
    llm = ScriptedLLM(["first", {"answer": 42}, ScriptedLLM.tool_call("search", {"q": "x"})])
    assert isinstance(llm, LLMClient)
    r1 = await llm.create(ask("one"))
    r2 = await llm.create(ask("two"))
    r3 = await llm.stream(ask("three"))

    assert r1.text == "first" and r1.stop_reason == "end_turn"
    assert json.loads(r2.text) == {"answer": 42}
    assert r3.stop_reason == "tool_use"
    assert r3.tool_uses[0]["name"] == "search" and r3.tool_uses[0]["input"] == {"q": "x"}
    assert [c.messages[0]["content"] for c in llm.calls] == ["one", "two", "three"]
    assert [r.request_id for r in (r1, r2, r3)] == [
        "req_scripted_0001",
        "req_scripted_0002",
        "req_scripted_0003",
    ]
    assert r1.model == "claude-test-1" and r1.id == "msg_scripted_0001"
    assert llm.remaining == 0
    llm.assert_complete()


async def test_a_full_llm_response_is_returned_as_is() -> None:
    given = LLMResponse(
        id="msg_x",
        model="other",
        content=({"type": "text", "text": "hi"},),
        stop_reason="max_tokens",
        usage=Usage(input_tokens=1, output_tokens=2),
    )
    assert await ScriptedLLM([given]).create(ask("q")) is given


async def test_usage_rule_and_count_tokens_agree() -> None:
    request = LLMRequest(
        model="m",
        system="You are terse.",  # 14 chars
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "abcdefgh"}]},  # 8 chars
        ],
        max_tokens=10,
    )
    llm = ScriptedLLM(["12345678"])
    response = await llm.create(request)
    assert response.usage == Usage(input_tokens=6, output_tokens=2)  # ceil(22/4), ceil(8/4)
    count = await llm.count_tokens(request)
    assert count.input_tokens == 6
    assert llm.count_calls == [request] and llm.calls == [request]


async def test_explicit_usage_and_ratelimit() -> None:
    default = RateLimitSnapshot(request_id="default")
    special = RateLimitSnapshot(request_id="special")
    usage = Usage(input_tokens=1000, output_tokens=10, cache_read_input_tokens=5000)
    llm = ScriptedLLM(
        ["a", ScriptedLLM.text("b", usage=usage, ratelimit=special)], ratelimit=default
    )
    first = await llm.create(ask("q"))
    second = await llm.create(ask("q"))
    assert first.ratelimit is default
    assert second.ratelimit is special and second.usage == usage


async def test_function_mode_answers_every_call() -> None:
    def answer(request: LLMRequest) -> str:
        return f"you said {request.messages[-1]['content']}"

    llm = ScriptedLLM.from_function(answer)
    replies = [await llm.create(ask(str(i))) for i in range(5)]
    assert [r.text for r in replies] == [f"you said {i}" for i in range(5)]
    assert len(llm.calls) == 5
    llm.assert_complete()
    assert "function" in repr(llm)


async def test_async_function_steps_and_function_errors() -> None:
    async def slow_json(request: LLMRequest) -> Mapping[str, Any]:
        await asyncio.sleep(0)
        return {"model": request.model}

    def refuse(request: LLMRequest) -> LLMError:
        return ScriptedLLM.error(ErrorKind.INVALID_REQUEST, "no")

    def crash(request: LLMRequest) -> str:
        raise LLMError(ErrorKind.TIMEOUT, "raised by the step")

    llm = ScriptedLLM([slow_json, refuse, crash])
    assert json.loads((await llm.create(ask("q"))).text) == {"model": "claude-test-1"}
    with pytest.raises(LLMError) as info:
        await llm.create(ask("q"))
    assert info.value.kind is ErrorKind.INVALID_REQUEST and not info.value.retryable
    with pytest.raises(LLMError, match="raised by the step"):
        await llm.create(ask("q"))


async def test_error_steps_raise_fresh_errors_with_api_like_defaults() -> None:
    step = ScriptedLLM.error(ErrorKind.RATE_LIMITED, retry_after=12, limit="output_tokens")
    llm = ScriptedLLM([step, ScriptedLLM.error(ErrorKind.SPEND_LIMIT), "ok"])
    with pytest.raises(LLMError) as info:
        await llm.create(ask("q"))
    error = info.value
    assert error is not step
    assert error.kind is ErrorKind.RATE_LIMITED and error.retryable
    assert (error.status_code, error.retry_after, error.limit) == (429, 12, "output_tokens")
    assert error.request_id == "req_scripted_0001"
    with pytest.raises(LLMError) as info:
        await llm.stream(ask("q"))
    assert info.value.error_code == "enforced_spend_limit_reached"
    assert not info.value.retryable
    assert (await llm.create(ask("q"))).text == "ok"


async def test_exhaustion_names_the_script_and_the_unexpected_call() -> None:
    llm = ScriptedLLM(["only"])
    await llm.create(ask("expected"))
    with pytest.raises(LLMError) as info:
        await llm.create(ask("surprise question", model="claude-x"))
    error = info.value
    assert error.kind is ErrorKind.SCRIPT_EXHAUSTED and not error.retryable
    assert "1 step(s) were scripted" in error.message
    assert "call #2" in error.message
    assert "'claude-x'" in error.message and "surprise question" in error.message
    assert len(llm.calls) == 2


async def test_assert_complete_lists_unused_steps() -> None:
    llm = ScriptedLLM(["a", ScriptedLLM.tool_call("t", {}), ScriptedLLM.error(ErrorKind.SERVER)])
    llm.add({"k": 1})
    await llm.create(ask("q"))
    with pytest.raises(AssertionError) as info:
        llm.assert_complete()
    text = str(info.value)
    assert "3 of 4 scripted step(s) never used after 1 call(s)" in text
    assert "[1] ScriptedReply[tool_use]" in text
    assert "[2] error server" in text
    assert '[3] json {"k": 1}' in text


async def test_stream_replays_real_shaped_events() -> None:
    reply = ScriptedLLM.tool_call("search", {"query": "token buckets"}, text="Looking it up now.")
    llm = ScriptedLLM([reply])
    seen: list[Mapping[str, Any]] = []

    async def on_event(event: Mapping[str, Any]) -> None:
        seen.append(event)

    response = await llm.stream(ask("q"), on_event)
    types = [e["type"] for e in seen]
    assert types[:2] == ["message_start", "ping"]
    assert types[-2:] == ["message_delta", "message_stop"]
    assert types.count("content_block_start") == 2
    deltas = [e["delta"]["type"] for e in seen if e["type"] == "content_block_delta"]
    assert "text_delta" in deltas and "input_json_delta" in deltas

    accumulator = MessageAccumulator()
    for event in seen:
        accumulator.feed(event)
    assert accumulator.response(ratelimit=response.ratelimit, request_id=response.request_id) == (
        response
    )


async def test_latency_sleeps_on_the_injected_clock() -> None:
    clock = ManualClock()
    llm = ScriptedLLM(["a", ScriptedLLM.text("b", latency=30.0), "c"], latency=2.5, clock=clock)
    await llm.create(ask("q"))
    assert clock.now() == 2.5
    await llm.stream(ask("q"))
    assert clock.now() == 32.5
    await llm.count_tokens(ask("q"))  # no latency: count_tokens is not scripted
    assert clock.now() == 32.5


@pytest.mark.looptime
async def test_latency_in_virtual_loop_time() -> None:
    loop = asyncio.get_running_loop()
    llm = ScriptedLLM.from_function(lambda request: "done", latency=60.0)
    start = loop.time()
    replies = await asyncio.gather(*(llm.create(ask(str(i))) for i in range(10)))
    assert loop.time() - start == pytest.approx(60.0)  # concurrent calls overlap
    assert all(r.text == "done" for r in replies)


async def test_instant_by_default_but_still_yields() -> None:
    order: list[str] = []
    llm = ScriptedLLM.from_function(lambda request: "x")

    async def call() -> None:
        order.append("start")
        await llm.create(ask("q"))
        order.append("end")

    await asyncio.gather(call(), call())
    assert order == ["start", "start", "end", "end"]


def test_bad_configuration_and_bad_steps() -> None:
    with pytest.raises(ValueError, match="latency"):
        ScriptedLLM(latency=-1)


async def test_a_step_of_the_wrong_type_is_a_clear_type_error() -> None:
    llm = ScriptedLLM([42])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="step #1 produced int"):
        await llm.create(ask("q"))


def test_scripted_reply_is_public() -> None:
    reply = ScriptedReply(content=({"type": "text", "text": "x"},), stop_reason="max_tokens")
    assert reply.usage is None and reply.latency is None
