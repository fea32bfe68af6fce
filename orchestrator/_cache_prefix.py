"""The cacheable prefixes of a request: one per `cache_control` breakpoint, with a key.

The prompt is walked in the API's cache order (tools -> system -> messages). Each block
that carries `cache_control` ends a prefix; its key hashes the model, the settings that
invalidate a cache when they change (output format, tool choice), message boundaries with
their roles, and the canonical JSON of every block so far without its `cache_control` (so
moving a marker does not change the earlier prefixes' keys). Two requests whose prefixes
have the same key send that prefix byte for byte alike and may share one cache entry.

A prefix's size is estimated locally with the caller's `InputEstimator` (`raw`: before
the estimator's calibration ratio and margin, which the gate applies when it uses it),
never by calling the API.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from agents.client import LLMRequest
from agents.estimate import InputEstimator

__all__ = ["TTL_S", "PrefixMark", "has_breakpoint", "prefix_marks"]

#: Seconds an entry lives without a hit, by the breakpoint's `ttl` ("5m" is the default).
TTL_S: Mapping[str, float] = {"5m": 300.0, "1h": 3600.0}


@dataclass(frozen=True, kw_only=True, slots=True)
class PrefixMark:
    """A cacheable prefix of a request: its key, raw token estimate and cache TTL."""

    key: str
    raw: int
    ttl_s: float


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _marker_ttl(block: Any) -> float | None:
    """The TTL of a block's `cache_control` breakpoint, or None if it has none."""
    if not isinstance(block, Mapping):
        return None
    marker = block.get("cache_control")
    if not isinstance(marker, Mapping) or marker.get("type") != "ephemeral":
        return None
    return TTL_S.get(str(marker.get("ttl", "5m")), TTL_S["5m"])


def _plain(block: Any) -> Any:
    if isinstance(block, Mapping) and "cache_control" in block:
        return {k: v for k, v in block.items() if k != "cache_control"}
    return block


def _items(body: Mapping[str, Any]) -> Iterator[tuple[str, int, Any]]:
    """(section, message index or -1, block) in cache order."""
    for tool in body.get("tools") or ():
        yield "tools", -1, tool
    system = body.get("system")
    if isinstance(system, str):
        if system:
            yield "system", -1, system
    elif isinstance(system, list):
        for block in system:
            yield "system", -1, block
    for index, message in enumerate(body.get("messages") or ()):
        content = message.get("content", "")
        for block in content if isinstance(content, list) else [content]:
            yield "messages", index, block


def has_breakpoint(request: LLMRequest) -> bool:
    """Whether any block carries `cache_control` (cheap: most requests have none)."""
    blocks: list[Any] = list(request.tools or ())
    if not isinstance(request.system, str) and request.system is not None:
        blocks += request.system
    for message in request.messages:
        content = message.get("content")
        if isinstance(content, list):
            blocks += content
    return any(isinstance(b, Mapping) and "cache_control" in b for b in blocks)


def _prefix_body(body: Mapping[str, Any], upto: list[tuple[str, int, Any]]) -> dict[str, Any]:
    """The request body cut after the last item of `upto` (for a size estimate)."""
    partial: dict[str, Any] = {"model": body["model"], "messages": []}
    tools = [block for section, _, block in upto if section == "tools"]
    system = [block for section, _, block in upto if section == "system"]
    if tools:
        partial["tools"] = tools
    if system:
        partial["system"] = system
    messages: dict[int, list[Any]] = {}
    for section, index, block in upto:
        if section == "messages":
            messages.setdefault(index, []).append(block)
    source = body["messages"]
    partial["messages"] = [
        {"role": source[index]["role"], "content": blocks} for index, blocks in messages.items()
    ]
    return partial


def prefix_marks(request: LLMRequest, inputs: InputEstimator) -> tuple[PrefixMark, ...]:
    """The request's cacheable prefixes, shortest first (empty without breakpoints)."""
    if not has_breakpoint(request):
        return ()
    body = request.to_api(for_count=True)
    scope = {
        "model": request.model,
        "output_config": body.get("output_config"),
        "tool_choice": body.get("tool_choice"),
    }
    digest = hashlib.sha256(_canonical(scope).encode("utf-8"))
    seen: list[tuple[str, int, Any]] = []
    marks: list[PrefixMark] = []
    last_message = -1
    for section, index, block in _items(body):
        seen.append((section, index, block))
        if section == "messages" and index != last_message:
            role = body["messages"][index].get("role")
            digest.update(f"\x00message:{role}\x00".encode())
            last_message = index
        else:
            digest.update(f"\x00{section}\x00".encode())
        digest.update(_canonical(_plain(block)).encode("utf-8"))
        ttl = _marker_ttl(block)
        if ttl is None:
            continue
        raw = inputs.raw(_prefix_body(body, seen))
        marks.append(PrefixMark(key=digest.hexdigest(), raw=raw, ttl_s=ttl))
    return tuple(marks)
