"""Seeded content: determinism, output lengths, structured output and tool use."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import pytest
from emulator_helpers import MODEL, USER, config, meta, text_of, tool_uses
from pydantic import BaseModel, Field

from orchestrator.emulator import Emulator

HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
WEATHER: Any = {
    "name": "get_weather",
    "description": "Weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 2},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "units": {"enum": ["metric", "imperial"]},
        },
        "required": ["city", "days", "units"],
    },
}
CLOCK: Any = {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}


class Task(BaseModel):
    id: str
    title: str = Field(min_length=3)
    estimate_tokens: int = Field(ge=100, le=10_000)
    depends_on: list[str] = Field(default_factory=list)


class Plan(BaseModel):
    summary: str
    tasks: list[Task] = Field(min_length=1, max_length=6)


async def transcript(seed: int, wall_epoch: float = 1.7e9) -> list[bytes]:
    """Raw responses (headers and body) to a fixed sequence of requests."""
    emulator = Emulator(config(seed=seed, wall_epoch=wall_epoch, limits={"*": {"rpm": 3}}))
    out = []
    async with emulator.http_client() as http:
        bodies: list[dict[str, Any]] = [
            {"model": MODEL, "max_tokens": 300, "messages": USER},
            {"model": MODEL, "max_tokens": 300, "messages": USER, "tools": [WEATHER, CLOCK]},
            {"model": MODEL, "max_tokens": 300, "messages": USER, "stream": True},
            {"model": MODEL, "max_tokens": 300, "messages": USER},  # 429: rpm 3
            {"model": "claude-nope", "max_tokens": 300, "messages": USER},  # 404
        ]
        for body in bodies:
            response = await http.post("/v1/messages", json=body, headers=HEADERS)
            head = sorted(response.headers.items())
            out.append(repr(head).encode() + b"\n" + response.content)
    return out


@pytest.mark.looptime  # virtual time: reset headers depend on elapsed time
async def test_same_seed_same_bytes() -> None:
    first = await transcript(seed=5)
    assert first == await transcript(seed=5)
    assert first != await transcript(seed=6)
    assert b"rate_limit_error" in first[3] and b"not_found_error" in first[4]


@pytest.mark.looptime
async def test_default_lengths_follow_a_seeded_lognormal() -> None:
    emulator = Emulator(config(seed=1))
    client = emulator.anthropic()
    lengths = []
    for _ in range(200):
        message = await client.messages.create(model=MODEL, max_tokens=4000, messages=USER)
        assert message.stop_reason == "end_turn"
        text = text_of(message)
        assert len(text) == 4 * message.usage.output_tokens
        lengths.append(message.usage.output_tokens)
    lengths.sort()
    assert 180 < lengths[100] < 330  # median ~250
    assert lengths[0] >= 1 and lengths[-1] < 4000


@pytest.mark.looptime
async def test_exact_length_and_max_tokens_cut() -> None:
    emulator = Emulator(config())
    client = emulator.anthropic()
    exact = await client.messages.create(
        model=MODEL,
        max_tokens=500,
        messages=USER,
        metadata=meta(321),
    )
    assert (exact.usage.output_tokens, exact.stop_reason) == (321, "end_turn")
    cut = await client.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=USER,
        metadata=meta(321),
    )
    assert (cut.usage.output_tokens, cut.stop_reason) == (100, "max_tokens")


@pytest.mark.looptime
async def test_structured_output_is_schema_valid() -> None:
    emulator = Emulator(config())
    client = emulator.anthropic()
    for _ in range(20):
        parsed = await client.messages.parse(
            model=MODEL,
            max_tokens=4000,
            messages=USER,
            output_format=Plan,
        )
        assert isinstance(parsed.parsed_output, Plan)
    raw = await client.messages.create(
        model=MODEL,
        max_tokens=4000,
        messages=USER,
        output_config={"format": {"type": "json_schema", "schema": Plan.model_json_schema()}},
    )
    plan = Plan.model_validate_json(text_of(raw))
    assert plan.tasks


@pytest.mark.looptime
async def test_structured_output_can_be_sized() -> None:
    emulator = Emulator(config())
    client = emulator.anthropic()
    fmt: Any = {"format": {"type": "json_schema", "schema": Plan.model_json_schema()}}
    message = await client.messages.create(
        model=MODEL,
        max_tokens=4000,
        messages=USER,
        output_config=fmt,
        metadata=meta(1500),
    )
    Plan.model_validate_json(text_of(message))
    assert 1500 <= message.usage.output_tokens < 1700
    cut = await client.messages.create(
        model=MODEL,
        max_tokens=50,
        messages=USER,
        output_config=fmt,
        metadata=meta(1500),
    )
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 50


@pytest.mark.looptime
async def test_tool_use_then_text_after_tool_results() -> None:
    emulator = Emulator(config(seed=4))
    client = emulator.anthropic()
    first = await client.messages.create(
        model=MODEL,
        max_tokens=500,
        messages=USER,
        tools=[WEATHER],
    )
    assert first.stop_reason == "tool_use"
    call = tool_uses(first)[0]
    assert call.type == "tool_use" and call.name == "get_weather" and call.id.startswith("toolu_")
    assert 1 <= call.input["days"] <= 7 and call.input["units"] in ("metric", "imperial")
    assert len(call.input["city"]) >= 2
    follow_up: list[Any] = [
        *USER,
        {"role": "assistant", "content": [call.model_dump(exclude_none=True)]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}],
        },
    ]
    second = await client.messages.create(
        model=MODEL, max_tokens=500, messages=follow_up, tools=[WEATHER]
    )
    assert second.stop_reason in ("end_turn", "max_tokens")
    assert second.content[0].type == "text"


@pytest.mark.looptime
async def test_tool_choice_and_metadata_control_tool_calls() -> None:
    emulator = Emulator(config(seed=9))
    client = emulator.anthropic()
    tools: Any = [WEATHER, CLOCK]

    async def ask(**kwargs: Any) -> anthropic.types.Message:
        return await client.messages.create(
            model=MODEL, max_tokens=600, messages=USER, tools=tools, **kwargs
        )

    none = await ask(tool_choice={"type": "none"})
    assert none.content[0].type == "text"
    named = await ask(tool_choice={"type": "tool", "name": "get_time"})
    assert [b.name for b in tool_uses(named)] == ["get_time"]
    three = await ask(metadata={"emulator_tool_calls": 3})
    assert [b.type for b in three.content] == ["tool_use"] * 3
    assert len({b.id for b in tool_uses(three)}) == 3
    capped = await ask(
        metadata={"emulator_tool_calls": 3},
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
    )
    assert len(capped.content) == 1
    text = await ask(metadata={"emulator_tool_calls": 0})
    assert text.content[0].type == "text" and text.stop_reason != "tool_use"
    forced = await ask(metadata={"emulator_tool_calls": 0}, tool_choice={"type": "any"})
    assert forced.stop_reason == "tool_use"


async def test_raw_sse_wire_format() -> None:
    emulator = Emulator(config())
    async with emulator.http_client() as http:
        body = {"model": MODEL, "max_tokens": 50, "messages": USER, "stream": True}
        response = await http.post("/v1/messages", json=body, headers=HEADERS)
    assert response.headers["content-type"].startswith("text/event-stream")
    blocks = response.text.strip().split("\n\n")
    names = [b.split("\n")[0].removeprefix("event: ") for b in blocks]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-1] == "message_stop"
    for block in blocks:
        event_line, data_line = block.split("\n")
        assert json.loads(data_line.removeprefix("data: "))["type"] == event_line.removeprefix(
            "event: "
        )


async def test_models_endpoint() -> None:
    emulator = Emulator(config(models=["claude-sonnet-4-6", "claude-opus-4-8"]))
    client = emulator.anthropic()
    page = await client.models.list()
    assert [m.id for m in page.data] == ["claude-sonnet-4-6", "claude-opus-4-8"]
    one = await client.models.retrieve("claude-opus-4-8")
    assert one.id == "claude-opus-4-8"
    with pytest.raises(anthropic.NotFoundError):
        await client.models.retrieve("gpt-4")


async def test_stats_endpoint() -> None:
    emulator = Emulator(config())
    await emulator.anthropic().messages.create(model=MODEL, max_tokens=10, messages=USER)
    async with emulator.http_client() as http:
        stats = (await http.get("/_emulator/stats")).json()
    assert stats == emulator.stats()
    assert stats["requests"] == 1 and stats["responses"] == {"200": 1}
    assert stats["tokens"]["output"] == 10
    emulator.reset()
    assert emulator.stats()["requests"] == 0


async def test_unknown_path_is_an_api_shaped_404() -> None:
    emulator = Emulator(config())
    transport = httpx2.ASGITransport(app=emulator.app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://e") as http:
        missing = await http.get("/v1/nothing", headers=HEADERS)
        wrong_method = await http.get("/v1/messages", headers=HEADERS)
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["type"] == "invalid_request_error"
    assert "anthropic-ratelimit-tokens-limit" in missing.headers
