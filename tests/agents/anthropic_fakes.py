"""A fake Messages API on `httpx2.MockTransport`: exact JSON, headers and SSE bytes."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import httpx2

from agents import AnthropicClient

RESET = "2026-01-01T00:01:00Z"

#: All twelve rate-limit headers plus request-id, as the API sends them.
RATE_HEADERS: dict[str, str] = {
    "request-id": "req_011",
    "anthropic-ratelimit-requests-limit": "4000",
    "anthropic-ratelimit-requests-remaining": "3999",
    "anthropic-ratelimit-requests-reset": RESET,
    "anthropic-ratelimit-tokens-limit": "2400000",
    "anthropic-ratelimit-tokens-remaining": "2399000",
    "anthropic-ratelimit-tokens-reset": RESET,
    "anthropic-ratelimit-input-tokens-limit": "2000000",
    "anthropic-ratelimit-input-tokens-remaining": "1999000",
    "anthropic-ratelimit-input-tokens-reset": RESET,
    "anthropic-ratelimit-output-tokens-limit": "400000",
    "anthropic-ratelimit-output-tokens-remaining": "400000",
    "anthropic-ratelimit-output-tokens-reset": "2026-01-01T00:00:30Z",
}

USAGE_JSON: dict[str, Any] = {
    "input_tokens": 12,
    "output_tokens": 34,
    "cache_creation_input_tokens": 2048,
    "cache_read_input_tokens": 4096,
    "cache_creation": {"ephemeral_5m_input_tokens": 2048, "ephemeral_1h_input_tokens": 0},
    "service_tier": "standard",
}


def message_json(
    content: list[dict[str, Any]] | None = None,
    *,
    stop_reason: str = "end_turn",
    usage: Mapping[str, Any] | None = None,
    model: str = "claude-test-1",
) -> dict[str, Any]:
    """A complete non-streaming message body."""
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content if content is not None else [{"type": "text", "text": "Hello!"}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": dict(usage or USAGE_JSON),
    }


def error_json(
    error_type: str, message: str, *, error_code: str | None = None, request_id: str = "req_err"
) -> dict[str, Any]:
    """An API error body."""
    error: dict[str, Any] = {"type": error_type, "message": message}
    if error_code is not None:
        error["details"] = {"error_code": error_code}
    return {"type": "error", "error": error, "request_id": request_id}


def sse_bytes(events: Iterable[Mapping[str, Any]]) -> bytes:
    """The SSE wire form of events: `event: <type>` then `data: <json>` and a blank line."""
    return "".join(
        f"event: {event['type']}\ndata: {json.dumps(event)}\n\n" for event in events
    ).encode()


def stream_events(*, error_after_text: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The real event sequence of a reply with a text block and a tool_use block.

    With `error_after_text`, an SSE `error` event (that body) replaces everything after
    the first two text deltas.
    """
    start_usage = {
        "input_tokens": 12,
        "output_tokens": 1,
        "cache_creation_input_tokens": 2048,
        "cache_read_input_tokens": 4096,
        "cache_creation": {"ephemeral_5m_input_tokens": 2048, "ephemeral_1h_input_tokens": 0},
    }
    head: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_02",
                "type": "message",
                "role": "assistant",
                "model": "claude-test-1",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": start_usage,
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "Let me look "},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "that up."},
        },
    ]
    if error_after_text is not None:
        return [*head, dict(error_after_text)]
    tail: list[dict[str, Any]] = [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_01",
                "name": "search",
                "input": {},
            },
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"query": "tok'},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": 'en buckets", "limit": 3}'},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 57},
        },
        {"type": "message_stop"},
    ]
    return head + tail


class ChunkedStream(httpx2.AsyncByteStream):
    """A response body sent in given chunks, optionally failing after them."""

    def __init__(self, chunks: Iterable[bytes], fail_with: Exception | None = None) -> None:
        self._chunks = list(chunks)
        self._fail_with = fail_with

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk
        if self._fail_with is not None:
            raise self._fail_with


def sse_response(
    body: bytes | ChunkedStream, headers: Mapping[str, str] | None = None
) -> httpx2.Response:
    """A 200 `text/event-stream` response."""
    all_headers = {**RATE_HEADERS, "content-type": "text/event-stream", **(headers or {})}
    if isinstance(body, bytes):
        return httpx2.Response(200, headers=all_headers, content=body)
    return httpx2.Response(200, headers=all_headers, stream=body)


Answer = httpx2.Response | Exception | Callable[[httpx2.Request], httpx2.Response]


class FakeAPI:
    """Answers requests from a queue of responses (or exceptions to raise); records them."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self._answers: deque[Answer] = deque()

    def queue(self, *answers: Answer) -> FakeAPI:
        self._answers.extend(answers)
        return self

    def json(self, status: int, body: object, headers: Mapping[str, str] | None = None) -> FakeAPI:
        return self.queue(httpx2.Response(status, json=body, headers=dict(headers or {})))

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if not self._answers:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        answer = self._answers.popleft()
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx2.Response):
            return answer(request)
        return answer

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]

    def client(self, **kwargs: Any) -> AnthropicClient:
        transport = httpx2.MockTransport(self.handler)
        kwargs.setdefault("api_key", "sk-ant-test")
        kwargs.setdefault("base_url", "https://api.example.test")
        return AnthropicClient(http_client=httpx2.AsyncClient(transport=transport), **kwargs)
