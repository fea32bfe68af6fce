"""The worker: request layout and caching, the tool loop, resume, structured output, failures.

Runs in virtual time against `ScriptedLLM` and a real `Budget` (and once against the
emulator), so every turn really goes through `BudgetedCaller` and takes a lease.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from anthropic import transform_schema
from pydantic import BaseModel

from agents import (
    Agent,
    AnthropicClient,
    ErrorKind,
    LLMRequest,
    ScriptedLLM,
    ScriptedReply,
    TaskFailed,
    ToolCall,
    Usage,
    Worker,
    WorkerJob,
    tool,
)
from orchestrator.budget import Budget, RampConfig
from orchestrator.call import BudgetedCaller, CallFailed, CallOptions, CallOutcome
from orchestrator.limits import AccountingMode, ModelLimits, model_class
from orchestrator.pricing import PRICES, Price, PriceTable

pytestmark = pytest.mark.looptime

MODEL = "claude-sonnet-4-5"
LIMITS = ModelLimits(rpm=1_000, itpm=2_000_000, otpm=400_000)
EPHEMERAL = {"type": "ephemeral"}
CONTEXT = "Shared background for every worker. " * 50


class Answer(BaseModel):
    value: int


@tool
async def slow_lookup(key: str) -> str:
    """Look a key up slowly.

    Args:
        key: The key.
    """
    await asyncio.sleep(5)
    return f"slow:{key}"


@tool
async def fast_lookup(key: str) -> str:
    """Look a key up quickly."""
    await asyncio.sleep(1)
    return f"fast:{key}"


@tool
def failing(x: int) -> int:
    """Always fails."""
    raise ValueError(f"bad x={x}")


RESEARCHER = Agent(
    "researcher",
    system="You look things up.",
    tools=[slow_lookup, fast_lookup, failing],
    max_turns=4,
)


class RecordingCaller(BudgetedCaller):
    """A real caller that also keeps the options of every call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options: list[CallOptions] = []

    async def call(self, request: LLMRequest, options: CallOptions) -> CallOutcome:
        self.options.append(options)
        return await super().call(request, options)


def make(
    llm: Any, *, prices: PriceTable = PRICES, mode: AccountingMode = "actual"
) -> tuple[Worker, Budget, RecordingCaller]:
    budget = Budget(LIMITS, mode=mode, ramp=RampConfig.off())
    caller = RecordingCaller(llm, budget)
    return Worker(caller, prices=prices), budget, caller


def job(task_id: str = "t1", **fields: Any) -> WorkerJob:
    fields.setdefault("prompt", "Do the task.")
    fields.setdefault("model", MODEL)
    return WorkerJob(task_id=task_id, **fields)


def tool_use(name: str, input: Mapping[str, Any], id: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": id, "name": name, "input": dict(input)}


def calls_tools(*blocks: dict[str, Any]) -> ScriptedReply:
    return ScriptedReply(content=blocks, stop_reason="tool_use")


def breakpoints(request: LLMRequest) -> int:
    """Every `cache_control` marker in a request body."""
    body = request.to_api()
    count = 0

    def walk(value: Any) -> None:
        nonlocal count
        if isinstance(value, Mapping):
            count += "cache_control" in value
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk({k: body.get(k) for k in ("tools", "system", "messages")})
    return count


def granted_requests(budget: Budget) -> float:
    stats = budget.statistics()[str(model_class(MODEL))].requests
    assert stats is not None
    return stats.granted


# -- one turn ------------------------------------------------------------------------------


async def test_a_text_task_is_one_turn_with_its_cost_from_the_price_table() -> None:
    usage = Usage(input_tokens=1_000, output_tokens=200, cache_read_input_tokens=3_000)
    llm = ScriptedLLM([ScriptedLLM.text("hello", usage=usage)])
    worker, budget, _ = make(llm)
    result = await worker.run(job(system="Be kind.", context_prefix=CONTEXT))
    assert result.output == "hello" and result.data is None
    assert (result.turns, result.calls, result.attempts, result.tool_calls) == (1, 1, 1, 0)
    assert result.usage == usage and result.model == MODEL
    # sonnet-4: 3 input, 0.30 cache read, 15 output per million
    assert result.cost_usd == pytest.approx((1_000 * 3 + 3_000 * 0.3 + 200 * 15) / 1e6)
    assert result.transcript == [
        {"role": "user", "content": [{"type": "text", "text": "Do the task."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "hello"}]},
    ]
    assert result.finished_at >= result.started_at and result.waited_s == 0
    assert granted_requests(budget) == 1


async def test_cost_uses_the_workers_own_price_table() -> None:
    usage = Usage(input_tokens=1_000, output_tokens=200, cache_read_input_tokens=3_000)
    table = PriceTable({r"^claude-": Price(input=1, cache_write_5m=2, cache_read=0.5, output=10)})
    worker, _, _ = make(ScriptedLLM([ScriptedLLM.text("hi", usage=usage)]), prices=table)
    result = await worker.run(job())
    assert result.cost_usd == pytest.approx((1_000 + 1_500 + 2_000) / 1e6)


def test_a_job_needs_a_model_and_a_valid_schema() -> None:
    with pytest.raises(ValueError, match="task 'x' has no model"):
        WorkerJob(task_id="x", prompt="p")
    assert WorkerJob(task_id="x", prompt="p", agent=Agent("a", model=MODEL)).resolved_model
    with pytest.raises(ValueError, match="repair_attempts must be >= 0"):
        job(repair_attempts=-1)
    with pytest.raises(ValueError, match="invalid output schema"):
        job(output_schema={"type": "object", "required": "value"})


# -- request layout and prompt caching -------------------------------------------------------


async def test_layout_tools_then_system_then_context_breakpoint_then_moving_breakpoint() -> None:
    llm = ScriptedLLM(
        [calls_tools(tool_use("fast_lookup", {"key": "a"}, "tu_1")), ScriptedLLM.text("done")]
    )
    worker, _, _ = make(llm)
    result = await worker.run(job(agent=RESEARCHER, context_prefix=CONTEXT, prompt="Find a."))
    first, second = llm.calls
    assert first.tools == [t.definition for t in RESEARCHER.tools]
    assert first.system == [
        {"type": "text", "text": "You look things up."},
        {"type": "text", "text": CONTEXT, "cache_control": EPHEMERAL},
    ]
    assert first.messages == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Find a.", "cache_control": EPHEMERAL}],
        }
    ]
    # turn 2: the breakpoint moved to the newest block; the old one is gone
    assert second.messages[0]["content"] == [{"type": "text", "text": "Find a."}]
    assert second.messages[-1]["content"][-1]["cache_control"] == EPHEMERAL
    assert second.system == first.system and second.tools == first.tools
    assert [breakpoints(r) for r in llm.calls] == [2, 2]
    assert "cache_control" not in json.dumps(result.transcript)


async def test_the_prefix_is_byte_identical_across_workers_of_one_agent() -> None:
    worker, _, _ = make(ScriptedLLM())
    one = worker.build_request(job("a", agent=RESEARCHER, context_prefix=CONTEXT, prompt="x"), [])
    two = worker.build_request(job("b", agent=RESEARCHER, context_prefix=CONTEXT, prompt="y"), [])
    for key in ("tools", "system"):
        assert json.dumps(one.to_api()[key]) == json.dumps(two.to_api()[key])


async def test_without_tools_only_the_stable_prefix_is_a_breakpoint() -> None:
    llm = ScriptedLLM(["a", "b", "c"])
    worker, _, _ = make(llm)
    await worker.run(job(system="S", context_prefix=CONTEXT))
    await worker.run(job(system="S"))
    await worker.run(job())
    with_context, system_only, bare = llm.calls
    assert breakpoints(with_context) == 1 and with_context.system is not None
    assert not isinstance(with_context.system, str)
    assert with_context.system[-1]["cache_control"] == EPHEMERAL
    assert system_only.system == [{"type": "text", "text": "S", "cache_control": EPHEMERAL}]
    assert bare.system is None and breakpoints(bare) == 0
    assert with_context.tools is None


async def test_a_long_loop_never_has_more_than_two_breakpoints_even_from_a_marked_transcript() -> (
    None
):
    steps: list[Any] = [
        calls_tools(tool_use("fast_lookup", {"key": str(i)}, f"tu_{i}")) for i in range(3)
    ]
    llm = ScriptedLLM([*steps, ScriptedLLM.text("done")])
    worker, _, _ = make(llm)
    marked = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Go.", "cache_control": EPHEMERAL}],
        }
    ]
    await worker.run(job(agent=RESEARCHER, context_prefix=CONTEXT), transcript=marked)
    assert [breakpoints(r) for r in llm.calls] == [2, 2, 2, 2]


async def test_each_turn_tells_the_budget_what_the_last_turn_left_in_the_cache() -> None:
    first = ScriptedReply(
        content=(tool_use("fast_lookup", {"key": "k"}, "tu_1"),),
        stop_reason="tool_use",
        usage=Usage(
            input_tokens=40, cache_creation_input_tokens=2_000, cache_read_input_tokens=500
        ),
    )
    llm = ScriptedLLM([first, "done"])
    worker, _, caller = make(llm)
    await worker.run(job(agent=RESEARCHER, cached_tokens=700, kind="research", priority=3))
    assert [o.cached_tokens for o in caller.options] == [700, 2_500]
    assert {(o.task_id, o.kind, o.priority) for o in caller.options} == {("t1", "research", 3)}


# -- the tool loop ------------------------------------------------------------------------


async def test_parallel_tool_calls_run_together_and_answer_in_one_message_in_order() -> None:
    llm = ScriptedLLM(
        [
            calls_tools(
                tool_use("slow_lookup", {"key": "a"}, "tu_slow"),
                tool_use("fast_lookup", {"key": "b"}, "tu_fast"),
            ),
            ScriptedLLM.text("both found"),
        ]
    )
    worker, _, _ = make(llm)
    seen: list[ToolCall] = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await worker.run(job(agent=RESEARCHER), on_tool_call=seen.append)
    assert loop.time() - start == pytest.approx(5.0)  # concurrent: max(5, 1), not 6
    results = llm.calls[1].messages[-1]
    assert results["role"] == "user"
    assert [(b["tool_use_id"], b["content"]) for b in results["content"]] == [
        ("tu_slow", "slow:a"),
        ("tu_fast", "fast:b"),
    ]
    assert all("is_error" not in b for b in results["content"])
    assert result.output == "both found" and result.tool_calls == 2 and result.turns == 2
    assert [c.name for c in seen] == ["fast_lookup", "slow_lookup"]  # in finishing order
    assert seen[1].finished_at - seen[1].started_at == pytest.approx(5.0)
    assert seen[0].turn == 1 and seen[0].input == {"key": "b"} and seen[0].task_id == "t1"


async def test_failing_and_unknown_tools_are_errors_the_model_sees() -> None:
    llm = ScriptedLLM(
        [
            calls_tools(
                tool_use("failing", {"x": 4}, "tu_1"),
                tool_use("fast_lookp", {"key": "k"}, "tu_2"),
                tool_use("fast_lookup", {"wrong": 1}, "tu_3"),
            ),
            ScriptedLLM.text("recovered"),
        ]
    )
    worker, _, _ = make(llm)
    result = await worker.run(job(agent=RESEARCHER))
    blocks = llm.calls[1].messages[-1]["content"]
    assert [b["is_error"] for b in blocks] == [True, True, True]
    assert blocks[0]["content"] == "ValueError: bad x=4"
    assert blocks[1]["content"] == "unknown tool 'fast_lookp' (did you mean 'fast_lookup'?)"
    assert blocks[2]["content"].startswith("invalid input for tool 'fast_lookup'")
    assert result.output == "recovered"


async def test_every_turn_is_its_own_lease() -> None:
    llm = ScriptedLLM(
        [
            calls_tools(tool_use("fast_lookup", {"key": "1"}, "tu_1")),
            calls_tools(tool_use("fast_lookup", {"key": "2"}, "tu_2")),
            ScriptedLLM.text("done"),
        ]
    )
    worker, budget, _ = make(llm)
    turns: list[tuple[int, int]] = []
    result = await worker.run(job(agent=RESEARCHER), on_turn=lambda t, m: turns.append((t, len(m))))
    assert result.turns == result.calls == len(llm.calls) == 3
    assert granted_requests(budget) == 3
    assert turns == [(1, 3), (2, 5), (3, 6)]


async def test_exceeding_max_turns_fails_the_task_and_keeps_the_transcript() -> None:
    agent = Agent("looper", tools=[fast_lookup], max_turns=2)
    llm = ScriptedLLM(
        [
            calls_tools(tool_use("fast_lookup", {"key": "1"}, "tu_1")),
            calls_tools(tool_use("fast_lookup", {"key": "2"}, "tu_2")),
        ]
    )
    worker, _, _ = make(llm)
    with pytest.raises(TaskFailed) as info:
        await worker.run(job("loop", agent=agent))
    failure = info.value
    assert failure.code == "max_turns" and failure.task_id == "loop"
    assert str(failure) == (
        "task 'loop': no final answer within max_turns=2 (the model still called tools on "
        "turn 2); raise the agent's max_turns or narrow the task's prompt"
    )
    assert [m["role"] for m in failure.transcript] == ["user", "assistant", "user", "assistant"]
    assert failure.transcript[-1]["content"][0]["id"] == "tu_2"
    assert failure.attempts == 2 and failure.usage.output_tokens > 0
    llm.assert_complete()


# -- resume --------------------------------------------------------------------------------


async def test_resume_continues_from_the_last_completed_turn() -> None:
    llm = ScriptedLLM(
        [
            calls_tools(tool_use("fast_lookup", {"key": "a"}, "tu_1")),
            ScriptedLLM.error(ErrorKind.INVALID_REQUEST, "boom"),
        ]
    )
    worker, _, _ = make(llm)
    saved: list[list[dict[str, Any]]] = []

    async def journal(turn: int, messages: list[dict[str, Any]]) -> None:
        saved.append(messages)

    with pytest.raises(CallFailed):
        await worker.run(job(agent=RESEARCHER), on_turn=journal)
    assert len(saved) == 1 and len(saved[0]) == 3

    again = ScriptedLLM(["final answer"])
    worker2, budget2, _ = make(again)
    result = await worker2.run(job(agent=RESEARCHER), transcript=saved[0])
    assert len(again.calls) == 1
    assert again.calls[0].messages[1]["content"][0]["id"] == "tu_1"
    assert again.calls[0].messages[2]["content"][0]["content"] == "fast:a"
    assert (result.turns, result.calls, result.tool_calls) == (2, 1, 0)
    assert len(result.transcript) == 4 and result.output == "final answer"
    assert granted_requests(budget2) == 1


async def test_resume_runs_tool_calls_the_saved_turn_did_not_run() -> None:
    pending: Sequence[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": "Go."}]},
        {"role": "assistant", "content": [tool_use("fast_lookup", {"key": "z"}, "tu_9")]},
    ]
    llm = ScriptedLLM(["ok"])
    worker, _, _ = make(llm)
    result = await worker.run(job(agent=RESEARCHER), transcript=pending)
    assert llm.calls[0].messages[-1]["content"][0]["content"] == "fast:z"
    assert result.tool_calls == 1 and result.turns == 2


async def test_resume_at_a_final_answer_makes_no_call() -> None:
    done: list[dict[str, Any]] = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [{"type": "text", "text": '{"value": 5}'}]},
    ]
    llm = ScriptedLLM()
    worker, _, _ = make(llm)
    result = await worker.run(job(output_model=Answer), transcript=done)
    assert result.data == Answer(value=5) and result.calls == 0 and not llm.calls


async def test_a_malformed_transcript_is_refused() -> None:
    worker, _, _ = make(ScriptedLLM())
    with pytest.raises(ValueError, match="cannot resume from the transcript: message 0"):
        await worker.run(job(), transcript=[{"role": "assistant", "content": "hi"}])


# -- structured output ---------------------------------------------------------------------


async def test_valid_structured_output_with_a_pydantic_model() -> None:
    llm = ScriptedLLM([{"value": 3}])
    worker, _, _ = make(llm)
    result = await worker.run(job(output_model=Answer))
    assert result.data == Answer(value=3) and result.output == '{"value": 3}'
    sent = llm.calls[0].output_schema
    assert sent == transform_schema(Answer) and sent is not None
    assert sent["additionalProperties"] is False


async def test_valid_structured_output_with_a_json_schema_and_a_fence() -> None:
    schema = {
        "type": "object",
        "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["tags"],
    }
    llm = ScriptedLLM(['```json\n{"tags": ["a", "b"]}\n```'])
    worker, _, _ = make(llm)
    result = await worker.run(job(output_schema=schema))
    assert result.data == {"tags": ["a", "b"]}


async def test_invalid_output_is_repaired() -> None:
    llm = ScriptedLLM(['{"value": "three"}', {"value": 3}])
    worker, budget, _ = make(llm)
    result = await worker.run(job(agent=Agent("a", output_schema=Answer)))
    assert result.data == Answer(value=3) and result.repairs == 1
    assert (result.turns, result.calls) == (2, 2) and granted_requests(budget) == 2
    repair = llm.calls[1].messages
    assert repair[-2] == {
        "role": "assistant",
        "content": [{"type": "text", "text": '{"value": "three"}'}],
    }
    text = repair[-1]["content"][0]["text"]
    assert "$.value: Input should be a valid integer" in text
    assert "corrected JSON only" in text


async def test_output_invalid_after_repairs_fails_the_task() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    llm = ScriptedLLM(["not json at all", '{"n": "x"}'])
    worker, _, _ = make(llm)
    with pytest.raises(TaskFailed) as info:
        await worker.run(job("shape", output_schema=schema))
    failure = info.value
    assert failure.code == "invalid_output" and failure.last_output == '{"n": "x"}'
    assert str(failure).startswith(
        "task 'shape': structured output invalid after 1 repair attempt(s): "
        "$.n: 'x' is not of type 'integer'"
    )
    assert failure.attempts == 2 and len(failure.transcript) == 4
    assert "not valid JSON" in llm.calls[1].messages[-1]["content"][0]["text"]


async def test_no_repair_attempts_fails_at_once() -> None:
    llm = ScriptedLLM(["{}"])
    worker, _, _ = make(llm)
    with pytest.raises(TaskFailed, match=r"after 0 repair attempt\(s\): \$.value: Field required"):
        await worker.run(job(output_model=Answer, repair_attempts=0))


async def test_with_tools_the_schema_is_sent_on_every_turn() -> None:
    agent = Agent("a", tools=[fast_lookup], output_schema=Answer)
    llm = ScriptedLLM([calls_tools(tool_use("fast_lookup", {"key": "k"}, "tu_1")), {"value": 1}])
    worker, _, _ = make(llm)
    result = await worker.run(job(agent=agent))
    assert [c.output_schema for c in llm.calls] == [transform_schema(Answer)] * 2
    assert result.data == Answer(value=1)


async def test_job_schema_replaces_the_agents() -> None:
    schema = {"type": "object", "properties": {"s": {"type": "string"}}}
    llm = ScriptedLLM([{"s": "x"}])
    worker, _, _ = make(llm)
    result = await worker.run(job(agent=Agent("a", output_schema=Answer), output_schema=schema))
    assert result.data == {"s": "x"}


# -- truncation ----------------------------------------------------------------------------


async def test_truncated_output_fails_with_the_fix() -> None:
    llm = ScriptedLLM([ScriptedLLM.text("partial", stop_reason="max_tokens")])
    worker, _, _ = make(llm)
    with pytest.raises(TaskFailed) as info:
        await worker.run(job("long", max_tokens=500))
    assert str(info.value) == (
        "task 'long': output truncated at max_tokens=500; raise max_tokens or "
        "expected_output_tokens"
    )
    assert info.value.code == "truncated" and info.value.last_output == "partial"


async def test_truncation_after_the_callers_own_resend_reports_the_full_max_tokens() -> None:
    # Legacy accounting: the budget right-sizes max_tokens, then resends with the full one.
    cut = ScriptedLLM.text("partial", stop_reason="max_tokens")
    llm = ScriptedLLM([cut, cut])
    worker, _, _ = make(llm, mode="legacy")
    with pytest.raises(TaskFailed, match="truncated at max_tokens=4000;"):
        await worker.run(job(max_tokens=4_000, expected_output_tokens=100))
    assert llm.calls[0].max_tokens < 4_000 and llm.calls[1].max_tokens == 4_000


async def test_actual_accounting_sends_the_full_max_tokens_at_once() -> None:
    # Actual accounting counts output as generated: shrinking max_tokens saves nothing.
    cut = ScriptedLLM.text("partial", stop_reason="max_tokens")
    llm = ScriptedLLM([cut])
    worker, _, _ = make(llm)
    with pytest.raises(TaskFailed, match="truncated at max_tokens=4000;"):
        await worker.run(job(max_tokens=4_000, expected_output_tokens=100))
    assert [call.max_tokens for call in llm.calls] == [4_000]


async def test_streaming_jobs_use_the_stream_endpoint() -> None:
    class CountingLLM(ScriptedLLM):
        streamed = 0

        async def stream(self, request: LLMRequest, on_event: Any = None) -> Any:
            self.streamed += 1
            return await super().stream(request, on_event)

    llm = CountingLLM(["streamed"])
    worker, _, _ = make(llm)
    result = await worker.run(job(stream=True))
    assert result.output == "streamed" and llm.streamed == 1


# -- against the emulator ------------------------------------------------------------------


async def test_a_tool_loop_with_structured_output_against_the_emulator() -> None:
    from orchestrator.emulator import BASE_URL, Emulator, EmulatorConfig

    emulator = Emulator(EmulatorConfig.load({}).without_latency())
    client = AnthropicClient(
        api_key="test-key", base_url=BASE_URL, http_client=emulator.http_client()
    )
    budget = Budget(LIMITS, ramp=RampConfig.off())
    worker = Worker(BudgetedCaller(client, budget))
    agent = Agent("a", system="You look things up.", tools=[fast_lookup], output_schema=Answer)
    context = "You are a careful analyst. " * 400  # long enough to be cached
    first = await worker.run(
        job("one", agent=agent, context_prefix=context, model="claude-sonnet-4-6")
    )
    assert isinstance(first.data, Answer)
    assert first.turns == 2 and first.tool_calls >= 1
    # turn 2 read what turn 1 wrote: the context and the first user turn
    assert first.usage.cache_read_input_tokens > 0
    second = await worker.run(
        job("two", agent=agent, context_prefix=context, model="claude-sonnet-4-6")
    )
    assert second.usage.cache_creation_input_tokens < first.usage.cache_creation_input_tokens
