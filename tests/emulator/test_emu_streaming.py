"""SSE streaming through the SDK: the event sequence, usage, chunking and timing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import pytest
from emulator_helpers import MODEL, USER, config, meta, text_of, tool_uses

from orchestrator.emulator import Emulator

TOOLS: Any = [
    {
        "name": "lookup",
        "description": "Look a thing up.",
        "input_schema": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
            "required": ["query", "limit"],
        },
    }
]


async def raw_events(emulator: Emulator, **body: Any) -> list[tuple[str, dict[str, Any]]]:
    """The SSE events of one streaming request, read with the SDK's raw stream."""
    client = emulator.anthropic()
    request: dict[str, Any] = {"model": MODEL, "max_tokens": 1000, "messages": USER, **body}
    stream = await client.messages.create(stream=True, **request)
    return [(event.type, event.model_dump()) async for event in stream]


@pytest.mark.looptime
async def test_event_sequence_and_usage() -> None:
    emulator = Emulator(config())
    events = await raw_events(emulator, metadata=meta(100))
    kinds = [kind for kind, _ in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[2:-3]) == {"content_block_delta"}
    assert len(kinds[2:-3]) == 4  # 100 tokens in chunks of 32: 32, 32, 32, 4
    start = events[0][1]["message"]
    assert start["usage"]["input_tokens"] > 0
    assert start["content"] == [] and start["stop_reason"] is None
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert delta["usage"]["output_tokens"] == 100
    pieces = [e["delta"]["text"] for k, e in events if k == "content_block_delta"]
    assert [len(p) for p in pieces] == [128, 128, 128, 16]  # 4 characters a token


@pytest.mark.looptime
async def test_sdk_stream_helper_accumulates_the_message() -> None:
    emulator = Emulator(config())
    client = emulator.anthropic()
    async with client.messages.stream(
        model=MODEL,
        max_tokens=50,
        messages=USER,
        metadata=meta(80),
    ) as stream:
        texts = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert final.stop_reason == "max_tokens"
    assert final.usage.output_tokens == 50
    assert "".join(texts) == text_of(final)
    assert len(text_of(final)) == 200


@pytest.mark.looptime
async def test_tool_use_streams_input_json_deltas() -> None:
    emulator = Emulator(config())
    events = await raw_events(emulator, tools=TOOLS)
    starts = [e for k, e in events if k == "content_block_start"]
    assert starts[0]["content_block"]["type"] == "tool_use"
    assert starts[0]["content_block"]["name"] == "lookup"
    partial = "".join(
        e["delta"]["partial_json"]
        for k, e in events
        if k == "content_block_delta" and e["delta"]["type"] == "input_json_delta"
    )
    value = json.loads(partial)
    assert isinstance(value["query"], str) and isinstance(value["limit"], int)
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    client = emulator.anthropic()
    async with client.messages.stream(model=MODEL, max_tokens=500, messages=USER, tools=TOOLS) as s:
        final = await s.get_final_message()
    assert final.content[0].type == "tool_use"
    assert set(tool_uses(final)[0].input) >= {"query", "limit"}


@pytest.mark.looptime
async def test_deltas_arrive_over_time() -> None:
    latency = {
        "*": {"ttft_s": 2.0, "tokens_per_second": 32.0, "prefill_s_per_token": 0.0, "jitter": 0.0}
    }
    emulator = Emulator(config(latency=latency))
    client = emulator.anthropic()
    loop = asyncio.get_running_loop()
    start = loop.time()
    arrivals: list[tuple[str, float]] = []
    stream = await client.messages.create(
        model=MODEL,
        max_tokens=1000,
        messages=USER,
        stream=True,
        metadata=meta(96),
    )
    async for event in stream:
        arrivals.append((event.type, round(loop.time() - start, 6)))
    assert arrivals[0] == ("message_start", 0.0)  # headers and message_start at admission
    deltas = [t for kind, t in arrivals if kind == "content_block_delta"]
    assert deltas == [3.0, 4.0, 5.0]  # first token at 2 s, then 32 tokens per second
    assert arrivals[-1][1] == 5.0


@pytest.mark.looptime
async def test_plain_asgi_transport_works_too() -> None:
    """`httpx2.ASGITransport` buffers the stream but gives the same events."""
    emulator = Emulator(config(seed=3))
    plain = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=emulator.app))
    client = emulator.anthropic(http_client=plain)
    stream = await client.messages.create(
        model=MODEL,
        max_tokens=300,
        messages=USER,
        stream=True,
        metadata=meta(70),
    )
    kinds = [event.type async for event in stream]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert kinds.count("content_block_delta") == 3
