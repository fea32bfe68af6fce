"""The Messages API event stream as plain data: fold events into a message, or replay one.

`MessageAccumulator.feed` is the pure core of `AnthropicClient.stream`; `message_events`
is its inverse, used by `ScriptedLLM.stream` to replay a scripted reply as real-shaped
events. Folding the events of `message_events(r)` gives back `r`.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from typing import Any

from agents.client import LLMResponse
from agents.ratelimit import RateLimitSnapshot
from agents.usage import Usage

__all__ = [
    "MalformedMessageError",
    "MessageAccumulator",
    "approx_tokens",
    "message_events",
    "message_from_json",
]

#: characters per token of the rough estimate used where no count is available.
CHARS_PER_TOKEN = 4
#: characters per `text_delta` / `input_json_delta` when replaying a message.
REPLAY_CHUNK_CHARS = 24

_NEEDS_MESSAGE = frozenset(
    {"content_block_start", "content_block_delta", "content_block_stop", "message_delta"}
)
# Which field of a block each delta type appends to (the value is a string).
_STRING_DELTAS = {"text_delta": "text", "thinking_delta": "thinking"}
# Which block field a block type streams, and the delta type that carries it.
_STREAMED_FIELDS = {
    "text": ("text", "text_delta"),
    "thinking": ("thinking", "thinking_delta"),
}


def approx_tokens(text: str) -> int:
    """ceil(len(text) / 4): dagwright's rough token estimate where no count exists."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


class MalformedMessageError(ValueError):
    """The server's events or body do not form a valid message (a server fault)."""


def _without_none(block: Mapping[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in block.items() if v is not None}


def _merge_usage(into: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        if value is None:
            continue
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge_usage(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


class MessageAccumulator:
    """Folds `message_start` ... `message_stop` events into one message.

    Usage is `message_start`'s (the input side) updated with every `message_delta`'s
    (cumulative `output_tokens`, and any input-side fields the server repeats there).
    """

    def __init__(self) -> None:
        self._message: dict[str, Any] | None = None
        self._blocks: dict[int, dict[str, Any]] = {}
        self._json_parts: dict[int, list[str]] = {}
        self._usage: dict[str, Any] = {}
        self._stop_reason: str | None = None
        self._stop_sequence: str | None = None
        self._content_chars = 0
        self.events = 0
        self.finished = False

    @property
    def partial_output_tokens(self) -> int:
        """Output produced so far: the server's cumulative count, or more if the content
        received already implies more (mid-stream, only `message_start`'s count exists)."""
        reported = int(self._usage.get("output_tokens") or 0)
        return max(reported, math.ceil(self._content_chars / CHARS_PER_TOKEN))

    def _block(self, event: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        index = event.get("index")
        if not isinstance(index, int) or index not in self._blocks:
            raise MalformedMessageError(
                f"{event.get('type')} for content block {index!r} that was never started"
            )
        return index, self._blocks[index]

    def feed(self, event: Mapping[str, Any]) -> None:
        """Apply one event; unknown event and delta types are ignored (forward compatible).

        `error` events are not handled here: the caller raises them.
        """
        self.events += 1
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message")
            if not isinstance(message, Mapping):
                raise MalformedMessageError("message_start without a message object")
            content = message.get("content") or []
            usage = message.get("usage") or {}
            if not isinstance(content, list) or not all(isinstance(b, Mapping) for b in content):
                raise MalformedMessageError("message content is not a list of blocks")
            if not isinstance(usage, Mapping):
                raise MalformedMessageError("message usage is not an object")
            self._message = _without_none(message)
            self._usage = {}
            _merge_usage(self._usage, usage)
            for i, block in enumerate(content):
                self._blocks[i] = _without_none(block)
            return
        if kind in _NEEDS_MESSAGE and self._message is None:
            raise MalformedMessageError(f"{kind} before message_start")
        if kind == "content_block_start":
            index = event.get("index")
            block = event.get("content_block")
            if not isinstance(index, int) or not isinstance(block, Mapping):
                raise MalformedMessageError("content_block_start without index or content_block")
            self._blocks[index] = _without_none(block)
        elif kind == "content_block_delta":
            self._apply_delta(event)
        elif kind == "content_block_stop":
            index, block = self._block(event)
            parts = self._json_parts.pop(index, None)
            if parts is not None:
                text = "".join(parts)
                try:
                    block["input"] = json.loads(text) if text.strip() else {}
                except json.JSONDecodeError as exc:
                    raise MalformedMessageError(
                        f"content block {index} ({block.get('type')}) streamed invalid JSON "
                        f"input: {text[:200]!r}"
                    ) from exc
        elif kind == "message_delta":
            delta = event.get("delta") or {}
            if "stop_reason" in delta:
                self._stop_reason = delta["stop_reason"]
            if "stop_sequence" in delta:
                self._stop_sequence = delta["stop_sequence"]
            _merge_usage(self._usage, event.get("usage") or {})
        elif kind == "message_stop":
            self.finished = True

    def _apply_delta(self, event: Mapping[str, Any]) -> None:
        index, block = self._block(event)
        delta = event.get("delta")
        if not isinstance(delta, Mapping):
            raise MalformedMessageError(f"content_block_delta {index} without a delta")
        delta_type = delta.get("type")
        if delta_type in _STRING_DELTAS:
            field = _STRING_DELTAS[str(delta_type)]
            piece = str(delta.get(field) or "")
            block[field] = str(block.get(field) or "") + piece
            self._content_chars += len(piece)
        elif delta_type == "input_json_delta":
            piece = str(delta.get("partial_json") or "")
            self._json_parts.setdefault(index, []).append(piece)
            self._content_chars += len(piece)
        elif delta_type == "signature_delta":
            block["signature"] = str(block.get("signature") or "") + str(
                delta.get("signature") or ""
            )
        elif delta_type == "citations_delta":
            block.setdefault("citations", []).append(copy.deepcopy(delta.get("citation")))

    def response(
        self,
        *,
        ratelimit: RateLimitSnapshot | None = None,
        request_id: str | None = None,
    ) -> LLMResponse:
        """The finished message; raises `MalformedMessageError` before `message_stop`."""
        if self._message is None or not self.finished:
            raise MalformedMessageError("the stream has not finished (no message_stop yet)")
        message = self._message
        return LLMResponse(
            id=str(message.get("id") or ""),
            model=str(message.get("model") or ""),
            content=tuple(self._blocks[i] for i in sorted(self._blocks)),
            stop_reason=self._stop_reason or message.get("stop_reason"),
            stop_sequence=self._stop_sequence or message.get("stop_sequence"),
            usage=Usage.from_api(self._usage),
            ratelimit=ratelimit or RateLimitSnapshot(),
            request_id=request_id,
        )


def message_from_json(
    data: object,
    *,
    ratelimit: RateLimitSnapshot | None = None,
    request_id: str | None = None,
) -> LLMResponse:
    """A non-streaming response body as an `LLMResponse` (None-valued fields dropped)."""
    if not isinstance(data, Mapping) or data.get("type", "message") != "message":
        raise MalformedMessageError(f"expected a message object, got {str(data)[:200]!r}")
    accumulator = MessageAccumulator()
    accumulator.feed({"type": "message_start", "message": data})
    accumulator.feed({"type": "message_stop"})
    return accumulator.response(ratelimit=ratelimit, request_id=request_id)


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _block_events(index: int, block: Mapping[str, Any], size: int) -> list[dict[str, Any]]:
    block_type = block.get("type")
    start = dict(block)
    deltas: list[dict[str, Any]] = []
    if block_type in _STREAMED_FIELDS:
        field, delta_type = _STREAMED_FIELDS[str(block_type)]
        start[field] = ""
        signature = start.pop("signature", None) if block_type == "thinking" else None
        if signature is not None:
            start["signature"] = ""
        deltas = [
            {"type": delta_type, field: piece} for piece in _chunks(str(block.get(field, "")), size)
        ]
        if signature:
            deltas.append({"type": "signature_delta", "signature": signature})
    elif "input" in block:  # tool_use, server_tool_use
        start["input"] = {}
        text = json.dumps(block["input"], separators=(",", ":"), ensure_ascii=False)
        deltas = [
            {"type": "input_json_delta", "partial_json": piece} for piece in _chunks(text, size)
        ]
    events: list[dict[str, Any]] = [
        {"type": "content_block_start", "index": index, "content_block": start}
    ]
    events += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
    events.append({"type": "content_block_stop", "index": index})
    return events


def message_events(
    response: LLMResponse, *, chunk_chars: int = REPLAY_CHUNK_CHARS
) -> list[dict[str, Any]]:
    """The SSE events (as dicts, in the server's order) that stream `response`."""
    usage = response.usage.to_api()
    start_usage = {**usage, "output_tokens": min(1, response.usage.output_tokens)}
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": response.id,
                "type": "message",
                "role": "assistant",
                "model": response.model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": start_usage,
            },
        },
        {"type": "ping"},
    ]
    for index, block in enumerate(response.content):
        events += _block_events(index, block, chunk_chars)
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": response.stop_reason, "stop_sequence": response.stop_sequence},
            "usage": {"output_tokens": response.usage.output_tokens},
        }
    )
    events.append({"type": "message_stop"})
    return events
