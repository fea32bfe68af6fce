"""AnthropicClient.stream against exact SSE bytes (MockTransport and a tiny ASGI app)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx2
import pytest
from anthropic_fakes import (
    RATE_HEADERS,
    ChunkedStream,
    FakeAPI,
    error_json,
    sse_bytes,
    sse_response,
    stream_events,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from agents import AnthropicClient, ErrorKind, LLMError, LLMRequest, RateLimitSnapshot, Usage

REQUEST = LLMRequest(
    model="claude-test-1",
    messages=[{"role": "user", "content": "Find token bucket papers."}],
    max_tokens=2048,
    tools=[{"name": "search", "input_schema": {"type": "object"}}],
)

EXPECTED_CONTENT = (
    {"type": "text", "text": "Let me look that up."},
    {
        "type": "tool_use",
        "id": "toolu_01",
        "name": "search",
        "input": {"query": "token buckets", "limit": 3},
    },
)
EXPECTED_USAGE = Usage(
    input_tokens=12,
    output_tokens=57,
    cache_creation_input_tokens=2048,
    cache_read_input_tokens=4096,
    cache_creation_5m_input_tokens=2048,
)


async def test_stream_accumulates_blocks_usage_and_headers(api: FakeAPI) -> None:
    events = stream_events()
    api.queue(sse_response(sse_bytes(events)))
    seen: list[Mapping[str, Any]] = []
    async with api.client() as client:
        response = await client.stream(REQUEST, seen.append)

    assert response.content == EXPECTED_CONTENT
    assert response.stop_reason == "tool_use"
    assert response.usage == EXPECTED_USAGE
    assert response.id == "msg_02" and response.model == "claude-test-1"
    assert response.request_id == "req_011"
    assert response.ratelimit == RateLimitSnapshot.from_headers(RATE_HEADERS)
    assert seen == events  # every event, ping included, in order
    assert api.bodies() == [{**REQUEST.to_api(), "stream": True}]


async def test_stream_with_async_handler_and_odd_chunk_boundaries(api: FakeAPI) -> None:
    wire = sse_bytes(stream_events()).replace(b"\n", b"\r\n")
    chunks = [wire[i : i + 7] for i in range(0, len(wire), 7)]
    api.queue(sse_response(ChunkedStream(chunks)))
    types: list[str] = []

    async def on_event(event: Mapping[str, Any]) -> None:
        types.append(event["type"])

    async with api.client() as client:
        response = await client.stream(REQUEST, on_event)
    assert response.content == EXPECTED_CONTENT and response.usage == EXPECTED_USAGE
    assert types[0] == "message_start" and types[-1] == "message_stop" and "ping" in types


async def test_stream_without_handler(api: FakeAPI) -> None:
    api.queue(sse_response(sse_bytes(stream_events())))
    async with api.client() as client:
        response = await client.stream(REQUEST)
    assert response.content == EXPECTED_CONTENT


async def test_message_delta_usage_fields_override_message_start(api: FakeAPI) -> None:
    events = stream_events()
    events[-2]["usage"] = {"output_tokens": 60, "input_tokens": 15, "cache_read_input_tokens": 0}
    api.queue(sse_response(sse_bytes(events)))
    async with api.client() as client:
        response = await client.stream(REQUEST)
    assert response.usage.output_tokens == 60
    assert response.usage.input_tokens == 15
    assert response.usage.cache_read_input_tokens == 0
    assert response.usage.cache_creation_input_tokens == 2048


@pytest.mark.parametrize(
    ("error_type", "kind"),
    [
        ("overloaded_error", ErrorKind.OVERLOADED),
        ("rate_limit_error", ErrorKind.RATE_LIMITED),
        ("api_error", ErrorKind.SERVER),
    ],
)
async def test_sse_error_event_inside_a_200_is_raised(
    api: FakeAPI, error_type: str, kind: ErrorKind
) -> None:
    error_event = error_json(error_type, "Overloaded", request_id="req_body")
    api.queue(sse_response(sse_bytes(stream_events(error_after_text=error_event))))
    seen: list[Mapping[str, Any]] = []
    async with api.client() as client:
        with pytest.raises(LLMError) as info:
            await client.stream(REQUEST, seen.append)
    error = info.value
    assert error.kind is kind and error.retryable
    assert error.request_id == "req_011"  # the 200's request-id header
    # "Let me look that up." is 20 characters; message_start had reported 1.
    assert error.partial_output_tokens == 5
    assert error.status_code is None
    assert "inside a 200 stream" in error.message
    assert seen[-1]["type"] == "error"  # on_event saw it; it was not swallowed
    assert len(api.requests) == 1


async def test_truncated_stream_is_a_connection_error(api: FakeAPI) -> None:
    events = stream_events()[:-3]  # cut after the tool input started
    api.queue(sse_response(sse_bytes(events)))
    async with api.client() as client:
        with pytest.raises(LLMError) as info:
            await client.stream(REQUEST)
    error = info.value
    assert error.kind is ErrorKind.CONNECTION and error.retryable
    assert error.request_id == "req_011"
    assert "message_stop" in error.message
    assert error.partial_output_tokens is not None and error.partial_output_tokens >= 5


async def test_connection_reset_mid_stream(api: FakeAPI) -> None:
    wire = sse_bytes(stream_events())
    broken = ChunkedStream([wire[:700]], fail_with=httpx2.ReadError("connection reset by peer"))
    api.queue(sse_response(broken))
    async with api.client() as client:
        with pytest.raises(LLMError) as info:
            await client.stream(REQUEST)
    error = info.value
    assert error.kind is ErrorKind.CONNECTION
    assert error.request_id == "req_011"
    assert error.ratelimit is not None and error.ratelimit.requests.limit == 4000
    assert error.partial_output_tokens is not None
    assert "connection reset by peer" in error.message


async def test_read_timeout_mid_stream(api: FakeAPI) -> None:
    wire = sse_bytes(stream_events())
    api.queue(sse_response(ChunkedStream([wire[:300]], fail_with=httpx2.ReadTimeout("slow"))))
    async with api.client() as client:
        with pytest.raises(LLMError) as info:
            await client.stream(REQUEST)
    assert info.value.kind is ErrorKind.TIMEOUT and info.value.request_id == "req_011"


@pytest.mark.parametrize(
    "body",
    [
        b"event: message_start\ndata: {not json\n\n",
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"x"}}\n\n',
    ],
)
async def test_malformed_stream_is_a_server_error(api: FakeAPI, body: bytes) -> None:
    api.queue(sse_response(body))
    async with api.client() as client:
        with pytest.raises(LLMError) as info:
            await client.stream(REQUEST)
    assert info.value.kind is ErrorKind.SERVER and info.value.request_id == "req_011"


async def test_non_sse_200_is_a_connection_error(api: FakeAPI) -> None:
    api.json(200, {"unexpected": True}, RATE_HEADERS)
    async with api.client() as client:
        with pytest.raises(LLMError) as info:
            await client.stream(REQUEST)
    assert info.value.kind is ErrorKind.CONNECTION
    assert "text/event-stream" in info.value.message


async def test_exception_in_on_event_propagates_unchanged(api: FakeAPI) -> None:
    api.queue(sse_response(sse_bytes(stream_events())))

    def explode(event: Mapping[str, Any]) -> None:
        if event["type"] == "ping":
            raise RuntimeError("handler bug")

    async with api.client() as client:
        with pytest.raises(RuntimeError, match="handler bug"):
            await client.stream(REQUEST, explode)


async def test_stream_through_an_asgi_app() -> None:
    """The in-process path the emulator uses: httpx2.ASGITransport, real chunked SSE."""
    received: list[dict[str, Any]] = []

    async def messages(request: Request) -> StreamingResponse:
        received.append(json.loads(await request.body()))

        async def body() -> AsyncIterator[bytes]:
            for event in stream_events():
                yield sse_bytes([event])

        return StreamingResponse(
            body(), media_type="text/event-stream", headers={**RATE_HEADERS, "request-id": "asgi"}
        )

    app = Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])])
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    async with AnthropicClient(base_url="http://emulator.local", http_client=http) as client:
        response = await client.stream(REQUEST)
    assert response.content == EXPECTED_CONTENT and response.usage == EXPECTED_USAGE
    assert response.request_id == "asgi"
    assert received[0]["stream"] is True and received[0]["max_tokens"] == 2048
