"""The LLM client seam: the part of the Messages API dagwright uses, as a Protocol."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from agents.ratelimit import RateLimitSnapshot
from agents.usage import Usage

__all__ = [
    "LLMClient",
    "LLMRequest",
    "LLMResponse",
    "StreamEventHandler",
    "TokenCount",
]

#: Called with each raw SSE event (as a JSON-like dict) while a stream runs.
StreamEventHandler = Callable[[Mapping[str, Any]], Awaitable[None] | None]


@dataclass(frozen=True, kw_only=True)
class LLMRequest:
    """One Messages API request in the API's own JSON shapes.

    `output_schema` becomes `output_config={"format": {"type": "json_schema", ...}}`.
    `metadata` is sent as-is (the emulator reads `metadata.emulator_output_tokens` to
    produce an exact output length; the real API must not be sent that key).
    """

    model: str
    messages: Sequence[Mapping[str, Any]]
    max_tokens: int
    system: str | Sequence[Mapping[str, Any]] | None = None
    tools: Sequence[Mapping[str, Any]] | None = None
    tool_choice: Mapping[str, Any] | None = None
    output_schema: Mapping[str, Any] | None = None
    stop_sequences: Sequence[str] | None = None
    metadata: Mapping[str, Any] | None = None
    extra_headers: Mapping[str, str] | None = None
    timeout: float | None = None

    def to_api(self, *, for_count: bool = False) -> dict[str, Any]:
        """The request body as JSON (for `count_tokens`, without generation fields)."""
        body: dict[str, Any] = {"model": self.model, "messages": [dict(m) for m in self.messages]}
        if self.system is not None:
            body["system"] = (
                self.system if isinstance(self.system, str) else [dict(b) for b in self.system]
            )
        if self.tools:
            body["tools"] = [dict(t) for t in self.tools]
        if self.tool_choice is not None:
            body["tool_choice"] = dict(self.tool_choice)
        if self.output_schema is not None:
            body["output_config"] = {
                "format": {"type": "json_schema", "schema": dict(self.output_schema)}
            }
        if for_count:
            return body
        body["max_tokens"] = self.max_tokens
        if self.stop_sequences:
            body["stop_sequences"] = list(self.stop_sequences)
        if self.metadata:
            body["metadata"] = dict(self.metadata)
        return body


@dataclass(frozen=True, kw_only=True)
class LLMResponse:
    """A finished call: the message, its usage and the rate-limit headers it came with."""

    id: str
    model: str
    content: tuple[Mapping[str, Any], ...]
    stop_reason: str | None
    usage: Usage
    ratelimit: RateLimitSnapshot = field(default_factory=RateLimitSnapshot)
    request_id: str | None = None
    stop_sequence: str | None = None

    @property
    def text(self) -> str:
        """All text blocks joined."""
        content = self.content
        if len(content) == 1:
            # Most answers are one block: the same string without a generator and a join.
            block = content[0]
            return str(block.get("text", "")) if block.get("type") == "text" else ""
        return "".join(str(b.get("text", "")) for b in content if b.get("type") == "text")

    @property
    def tool_uses(self) -> list[Mapping[str, Any]]:
        """The `tool_use` blocks, in order."""
        return [b for b in self.content if b.get("type") == "tool_use"]

    def to_api(self) -> dict[str, Any]:
        """The message as the API's JSON."""
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [dict(b) for b in self.content],
            "stop_reason": self.stop_reason,
            "stop_sequence": self.stop_sequence,
            "usage": self.usage.to_api(),
        }


@dataclass(frozen=True, kw_only=True)
class TokenCount:
    """The answer of `count_tokens`."""

    input_tokens: int
    ratelimit: RateLimitSnapshot = field(default_factory=RateLimitSnapshot)
    request_id: str | None = None


@runtime_checkable
class LLMClient(Protocol):
    """What dagwright needs from a Messages API client.

    Every method raises `agents.errors.LLMError` on failure, never a transport exception.
    """

    async def create(self, request: LLMRequest) -> LLMResponse:
        """Send one request and wait for the whole message."""
        ...

    async def stream(
        self, request: LLMRequest, on_event: StreamEventHandler | None = None
    ) -> LLMResponse:
        """Send one request as an SSE stream; `on_event` sees each event; returns the message."""
        ...

    async def count_tokens(self, request: LLMRequest) -> TokenCount:
        """Count the request's input tokens (free; its own request limit)."""
        ...
