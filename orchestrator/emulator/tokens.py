"""The emulator's token rule: how many tokens a prompt (and an output) is.

A documented, deterministic stand-in for the real tokenizer, used for `usage`,
`count_tokens`, rate limiting and prompt caching alike. dagwright's client-side token
estimator must not import this module: it has to estimate the way it would against the
real API, and tests compare the two.

The rule:

- a piece of text is `ceil(utf8_bytes / 4)` tokens;
- each message costs `MESSAGE_OVERHEAD` tokens, each content block `BLOCK_OVERHEAD` plus
  its payload: `text` and `thinking` their text; `tool_use` its name plus the compact
  JSON of its input; `tool_result` its content (a string or blocks); `image` and
  `document` a flat `IMAGE_TOKENS`; other block types the compact JSON of the block;
- a string `content` or `system` counts as one text block;
- each tool definition costs `TOOL_OVERHEAD` plus the compact JSON of the tool (without
  `cache_control`);
- a JSON-schema output format costs `SCHEMA_OVERHEAD` plus the compact JSON of the
  schema, as the structured-output instructions the server adds;
- output text of `n` tokens is exactly `4 * n` ASCII bytes, so re-sending an answer as
  input counts it at the same `n` (plus block overhead).

`prompt_items` yields the prompt in the API's cache order (tools, system, messages) with
each item's tokens, so prompt caching sees exactly the counts that `usage` reports.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BLOCK_OVERHEAD",
    "BYTES_PER_TOKEN",
    "IMAGE_TOKENS",
    "MESSAGE_OVERHEAD",
    "SCHEMA_OVERHEAD",
    "TOOL_OVERHEAD",
    "PromptItem",
    "block_tokens",
    "compact_json",
    "count_request_tokens",
    "prompt_items",
    "schema_tokens",
    "text_tokens",
    "tool_tokens",
]

BYTES_PER_TOKEN = 4
MESSAGE_OVERHEAD = 3
BLOCK_OVERHEAD = 2
TOOL_OVERHEAD = 8
SCHEMA_OVERHEAD = 16
IMAGE_TOKENS = 1_600


def compact_json(value: Any) -> str:
    """Canonical compact JSON: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def text_tokens(text: str) -> int:
    """`ceil(utf8_bytes / 4)`."""
    size = len(text) if text.isascii() else len(text.encode("utf-8"))
    return (size + BYTES_PER_TOKEN - 1) // BYTES_PER_TOKEN


def _content_tokens(content: Any) -> int:
    if isinstance(content, str):
        return BLOCK_OVERHEAD + text_tokens(content)
    if isinstance(content, list):
        return sum(block_tokens(b) for b in content)
    return 0


def block_tokens(block: Any) -> int:
    """Tokens of one content block (a string counts as a text block)."""
    if isinstance(block, str):
        return BLOCK_OVERHEAD + text_tokens(block)
    if not isinstance(block, Mapping):
        return BLOCK_OVERHEAD
    kind = block.get("type")
    if kind == "text":
        return BLOCK_OVERHEAD + text_tokens(str(block.get("text", "")))
    if kind == "thinking":
        return BLOCK_OVERHEAD + text_tokens(str(block.get("thinking", "")))
    if kind == "tool_use":
        payload = str(block.get("name", "")) + compact_json(block.get("input", {}))
        return BLOCK_OVERHEAD + text_tokens(payload)
    if kind == "tool_result":
        return BLOCK_OVERHEAD + _content_tokens(block.get("content", ""))
    if kind in ("image", "document"):
        return BLOCK_OVERHEAD + IMAGE_TOKENS
    return BLOCK_OVERHEAD + text_tokens(compact_json(_without_cache_control(block)))


def tool_tokens(tool: Mapping[str, Any]) -> int:
    """Tokens of one tool definition."""
    return TOOL_OVERHEAD + text_tokens(compact_json(_without_cache_control(tool)))


def schema_tokens(body: Mapping[str, Any]) -> int:
    """Tokens the structured-output format adds (0 without one)."""
    config = body.get("output_config")
    if not isinstance(config, Mapping):
        return 0
    fmt = config.get("format")
    if not isinstance(fmt, Mapping) or "schema" not in fmt:
        return 0
    return SCHEMA_OVERHEAD + text_tokens(compact_json(fmt["schema"]))


def _without_cache_control(block: Mapping[str, Any]) -> Mapping[str, Any]:
    if "cache_control" not in block:
        return block
    return {k: v for k, v in block.items() if k != "cache_control"}


@dataclass(frozen=True, slots=True)
class PromptItem:
    """One cacheable piece of the prompt, in cache order, with its tokens.

    `section` is `tools`, `system` or `messages`; `role` is the message's role and
    `first_in_message` marks where a new message starts (both matter for prefix identity).
    """

    section: str
    block: Any
    tokens: int
    role: str | None = None
    first_in_message: bool = False


def prompt_items(body: Mapping[str, Any]) -> Iterator[PromptItem]:
    """The prompt's tools, system blocks and message blocks in the API's cache order."""
    tools = body.get("tools")
    if isinstance(tools, list):
        for tool in tools:
            if isinstance(tool, Mapping):
                yield PromptItem(section="tools", block=tool, tokens=tool_tokens(tool))
    system = body.get("system")
    if isinstance(system, str):
        if system:
            yield PromptItem(section="system", block=system, tokens=block_tokens(system))
    elif isinstance(system, list):
        for block in system:
            yield PromptItem(section="system", block=block, tokens=block_tokens(block))
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        role = str(message.get("role", ""))
        content = message.get("content", "")
        blocks = content if isinstance(content, list) else [content]
        if not blocks:
            yield PromptItem(
                section="messages",
                block="",
                tokens=MESSAGE_OVERHEAD,
                role=role,
                first_in_message=True,
            )
            continue
        for index, block in enumerate(blocks):
            tokens = block_tokens(block) + (MESSAGE_OVERHEAD if index == 0 else 0)
            yield PromptItem(
                section="messages",
                block=block,
                tokens=tokens,
                role=role,
                first_in_message=index == 0,
            )


def count_request_tokens(body: Mapping[str, Any]) -> int:
    """All input tokens of a Messages request (what `count_tokens` answers)."""
    total = schema_tokens(body)
    for item in prompt_items(body):
        total += item.tokens
    return total
