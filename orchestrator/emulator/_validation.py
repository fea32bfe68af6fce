"""Request validation with the API's 400 messages (`field.path: what is wrong`).

Hand-written checks over plain dicts, not pydantic: this runs on every request and
must stay cheap. The checks cover what a client can get wrong that matters to dagwright;
they are not the API's full schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.emulator._errors import ApiError

__all__ = [
    "SAMPLING_REMOVED_IN",
    "MessagesRequest",
    "validate_count_tokens",
    "validate_messages",
]

#: From this `anthropic-version` on, temperature/top_p/top_k are rejected.
SAMPLING_REMOVED_IN = "2026-10-21"

_SAMPLING = ("temperature", "top_p", "top_k")
_COMMON_FIELDS = frozenset(
    {
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "output_config",
        "thinking",
        "cache_control",
        "speed",
        "context_management",
        "mcp_servers",
    }
)
_MESSAGES_FIELDS = _COMMON_FIELDS | {
    "max_tokens",
    "stream",
    "stop_sequences",
    "metadata",
    "service_tier",
    "inference_geo",
    "container",
    "diagnostics",
    *_SAMPLING,
}
_COUNT_FIELDS = _COMMON_FIELDS
_BLOCK_TYPES = frozenset(
    {
        "text",
        "image",
        "document",
        "tool_use",
        "tool_result",
        "thinking",
        "redacted_thinking",
        "search_result",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "container_upload",
    }
)
_METADATA_INTS = {"emulator_output_tokens": 1, "emulator_tool_calls": 0}
_TOOL_CHOICES = ("auto", "any", "tool", "none")


@dataclass(frozen=True, slots=True)
class MessagesRequest:
    """The validated parts of a Messages request the handler needs at once."""

    body: Mapping[str, Any]
    model: str
    max_tokens: int
    stream: bool
    output_tokens: int | None
    tool_calls: int | None


# Bodies come from `json.loads`, so objects are plain dicts: `isinstance(x, dict)` is
# several times cheaper than an ABC check on this per-request path.


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_fields(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for name in body:
        if name not in allowed:
            raise _bad(f"{name}: Extra inputs are not permitted")


def _check_model(body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise _bad("model: Field required")
    if not isinstance(model, str) or not model:
        raise _bad("model: Input should be a valid string")
    return model


def _check_blocks(blocks: Any, where: str) -> None:
    if not isinstance(blocks, list):
        raise _bad(f"{where}: Input should be a valid list")
    for index, block in enumerate(blocks):
        path = f"{where}.{index}"
        if not isinstance(block, dict):
            raise _bad(f"{path}: Input should be a valid dictionary")
        kind = block.get("type")
        if kind not in _BLOCK_TYPES:
            raise _bad(
                f"{path}: Input tag {kind!r} found using 'type' does not match any of the "
                f"expected tags: {', '.join(sorted(_BLOCK_TYPES))}"
            )
        if kind == "text" and not isinstance(block.get("text"), str):
            raise _bad(f"{path}.text: Field required")
        if kind == "tool_use" and not isinstance(block.get("input"), dict):
            raise _bad(f"{path}.input: Input should be a valid dictionary")
        if kind == "tool_result":
            if not isinstance(block.get("tool_use_id"), str):
                raise _bad(f"{path}.tool_use_id: Field required")
            content = block.get("content", "")
            if not isinstance(content, str):
                _check_blocks(content, f"{path}.content")


def _check_messages(body: Mapping[str, Any]) -> None:
    messages = body.get("messages")
    if messages is None:
        raise _bad("messages: Field required")
    if not isinstance(messages, list):
        raise _bad("messages: Input should be a valid list")
    if not messages:
        raise _bad("messages: at least one message is required")
    for index, message in enumerate(messages):
        where = f"messages.{index}"
        if not isinstance(message, dict):
            raise _bad(f"{where}: Input should be a valid dictionary")
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise _bad(f"{where}.role: Input should be 'user' or 'assistant'")
        if "content" not in message:
            raise _bad(f"{where}.content: Field required")
        content = message["content"]
        if not isinstance(content, str):
            _check_blocks(content, f"{where}.content")
        for key in message:
            if key not in ("role", "content"):
                raise _bad(f"{where}.{key}: Extra inputs are not permitted")
    if messages[0].get("role") != "user":
        raise _bad('messages: first message must use the "user" role')


def _check_system(body: Mapping[str, Any]) -> None:
    system = body.get("system")
    if system is None or isinstance(system, str):
        return
    _check_blocks(system, "system")
    for index, block in enumerate(system):
        if block.get("type") != "text":
            raise _bad(f"system.{index}.type: Input should be 'text'")


def _check_tools(body: Mapping[str, Any]) -> set[str]:
    tools = body.get("tools")
    if tools is None:
        return set()
    if not isinstance(tools, list):
        raise _bad("tools: Input should be a valid list")
    names: set[str] = set()
    for index, tool in enumerate(tools):
        where = f"tools.{index}"
        if not isinstance(tool, dict):
            raise _bad(f"{where}: Input should be a valid dictionary")
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise _bad(f"{where}.name: Field required")
        if name in names:
            raise _bad(f"tools: Tool names must be unique, got {name!r} twice")
        names.add(name)
        if tool.get("type") in (None, "custom"):
            schema = tool.get("input_schema")
            if not isinstance(schema, dict):
                raise _bad(f"{where}.input_schema: Field required")
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in _TOOL_CHOICES:
            raise _bad("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
        if choice["type"] == "tool" and choice.get("name") not in names:
            raise _bad(f"tool_choice.name: Tool {choice.get('name')!r} not found in tools")
    return names


def _check_output_config(body: Mapping[str, Any]) -> None:
    config = body.get("output_config")
    if config is None:
        return
    if not isinstance(config, Mapping):
        raise _bad("output_config: Input should be a valid dictionary")
    for key in config:
        if key not in ("format", "effort"):
            raise _bad(f"output_config.{key}: Extra inputs are not permitted")
    fmt = config.get("format")
    if fmt is None:
        return
    if not isinstance(fmt, Mapping) or fmt.get("type") != "json_schema":
        raise _bad("output_config.format.type: Input should be 'json_schema'")
    if not isinstance(fmt.get("schema"), Mapping):
        raise _bad("output_config.format.schema: Input should be a valid dictionary")


def _check_sampling(body: Mapping[str, Any], version: str) -> None:
    given = [name for name in _SAMPLING if name in body]
    if not given:
        return
    if version >= SAMPLING_REMOVED_IN:
        raise _bad(
            f"{given[0]}: This parameter is not supported with anthropic-version "
            f"{version}. Remove it, or send anthropic-version 2023-06-01."
        )
    for name in given:
        value = body[name]
        if name == "top_k":
            if not _is_int(value) or value < 0:
                raise _bad("top_k: Input should be greater than or equal to 0")
        elif not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
            raise _bad(f"{name}: Input should be a number between 0 and 1")


def _check_metadata(body: Mapping[str, Any]) -> dict[str, int]:
    metadata = body.get("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise _bad("metadata: Input should be a valid dictionary")
    directives: dict[str, int] = {}
    for key, value in metadata.items():
        if key == "user_id":
            if value is not None and not isinstance(value, str):
                raise _bad("metadata.user_id: Input should be a valid string")
        elif key in _METADATA_INTS:
            low = _METADATA_INTS[key]
            if not _is_int(value) or value < low:
                raise _bad(f"metadata.{key}: Input should be an integer >= {low}")
            directives[key] = value
        else:
            raise _bad(f"metadata.{key}: Extra inputs are not permitted")
    return directives


def validate_messages(body: Any, version: str) -> MessagesRequest:
    """Check a `POST /v1/messages` body; raise a 400 `ApiError` on the first problem."""
    if not isinstance(body, dict):
        raise _bad("Request body must be a JSON object")
    _check_fields(body, _MESSAGES_FIELDS)
    model = _check_model(body)
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise _bad("max_tokens: Field required")
    if not _is_int(max_tokens):
        raise _bad("max_tokens: Input should be a valid integer")
    if max_tokens < 1:
        raise _bad("max_tokens: Input should be greater than or equal to 1")
    _check_messages(body)
    _check_system(body)
    _check_tools(body)
    _check_output_config(body)
    _check_sampling(body, version)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("stream: Input should be a valid boolean")
    stops = body.get("stop_sequences")
    if stops is not None and (
        not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)
    ):
        raise _bad("stop_sequences: Input should be a valid list of strings")
    directives = _check_metadata(body)
    return MessagesRequest(
        body=body,
        model=model,
        max_tokens=max_tokens,
        stream=stream,
        output_tokens=directives.get("emulator_output_tokens"),
        tool_calls=directives.get("emulator_tool_calls"),
    )


def validate_count_tokens(body: Any) -> str:
    """Check a `POST /v1/messages/count_tokens` body; return its model."""
    if not isinstance(body, dict):
        raise _bad("Request body must be a JSON object")
    _check_fields(body, _COUNT_FIELDS)
    model = _check_model(body)
    _check_messages(body)
    _check_system(body)
    _check_tools(body)
    _check_output_config(body)
    return model
