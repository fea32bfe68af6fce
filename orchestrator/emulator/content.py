"""What the emulated model answers: seeded text, JSON for structured output, tool calls.

Decided once per request, before generation starts, from the request and a generator
seeded with (emulator seed, request number):

- Tool calls. With custom tools given, `tool_choice` decides: `none` never calls one;
  `any`/`tool` always do (the named tool for `tool`); `auto` (the default) calls one
  when the conversation ends in a user turn without `tool_result` blocks, and answers
  in text after tool results. `metadata.emulator_tool_calls` (an int >= 0) sets how many
  `tool_use` blocks an `auto` answer has (0: answer in text); it cannot make `none` call
  a tool or a forced choice call none. `disable_parallel_tool_use` caps it at 1.
  Inputs are seeded instances of each tool's `input_schema`; stop_reason `tool_use`.
- Structured output (`output_config.format` of type `json_schema`): one text block
  with a seeded, schema-valid JSON instance (see `schema_instances`). A manager's
  planning request (schema titled `Plan`, prompt with a `<goal>` section) gets a plan
  derived from the goal's text instead (see `_plan_content`).
- Otherwise text: `metadata.emulator_output_tokens` tokens exactly when given, else a
  seeded lognormal length, `median_output_tokens * exp(output_sigma * z)`, at least 1.

Whatever does not fit in `max_tokens` is cut there with stop_reason `max_tokens` (a cut
JSON answer is then invalid, as a real one would be; a tool call that does not fit
becomes cut text). Text of `n` tokens is `4 * n` ASCII characters (see `tokens`); a
tool call costs the tokens of its name plus its input's JSON.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.emulator._ids import IdFactory
from orchestrator.emulator._plan_content import is_plan_request, plan_answer
from orchestrator.emulator._text import filler
from orchestrator.emulator.schema_instances import SchemaInstances
from orchestrator.emulator.tokens import BYTES_PER_TOKEN, text_tokens

__all__ = ["ContentPlanner", "OutputBlock", "OutputPlan"]


@dataclass(frozen=True, slots=True)
class OutputBlock:
    """One block of the answer; for `tool_use`, `text` is the JSON of `input`."""

    type: str
    text: str
    tokens: int
    tool_id: str | None = None
    name: str | None = None
    input: Any = None

    def to_api(self) -> dict[str, Any]:
        """The block in the API's JSON form."""
        if self.type == "tool_use":
            return {"type": "tool_use", "id": self.tool_id, "name": self.name, "input": self.input}
        return {"type": "text", "text": self.text}

    def start_api(self) -> dict[str, Any]:
        """The block as `content_block_start` announces it (empty payload)."""
        if self.type == "tool_use":
            return {"type": "tool_use", "id": self.tool_id, "name": self.name, "input": {}}
        return {"type": "text", "text": ""}


@dataclass(frozen=True, slots=True)
class OutputPlan:
    """The whole answer: blocks, their total output tokens and the stop reason."""

    blocks: tuple[OutputBlock, ...]
    stop_reason: str

    @property
    def output_tokens(self) -> int:
        """Output tokens of the whole answer."""
        return sum(block.tokens for block in self.blocks)


class ContentPlanner:
    """Plans answers; `median`/`sigma` shape the default text length."""

    def __init__(self, *, median_tokens: int, sigma: float, ids: IdFactory) -> None:
        self._median = median_tokens
        self._sigma = sigma
        self._ids = ids

    def plan(
        self,
        body: Mapping[str, Any],
        rng: random.Random,
        *,
        max_tokens: int,
        output_tokens: int | None,
        tool_calls: int | None,
    ) -> OutputPlan:
        """The answer to one validated request."""
        tools = _custom_tools(body)
        calls = _tool_call_count(body, tools, tool_calls)
        if calls:
            plan = self._tool_calls(body, tools, calls, rng)
            if plan.output_tokens <= max_tokens:
                return plan
            return _cut_text(filler(rng, max_tokens * BYTES_PER_TOKEN), max_tokens)
        schema = _output_schema(body)
        if schema is not None:
            if is_plan_request(body, schema):
                return _fit(plan_answer(body, schema), max_tokens)
            return _fit(_json_answer(schema, rng, output_tokens), max_tokens)
        if output_tokens is None:
            draw = self._median * math.exp(self._sigma * rng.gauss(0.0, 1.0))
            output_tokens = max(1, round(draw))
        if output_tokens > max_tokens:
            return _cut_text(filler(rng, max_tokens * BYTES_PER_TOKEN), max_tokens)
        text = filler(rng, output_tokens * BYTES_PER_TOKEN)
        return OutputPlan(
            blocks=(OutputBlock("text", text, output_tokens),), stop_reason="end_turn"
        )

    def _tool_calls(
        self,
        body: Mapping[str, Any],
        tools: list[Mapping[str, Any]],
        calls: int,
        rng: random.Random,
    ) -> OutputPlan:
        choice = body.get("tool_choice") or {}
        blocks = []
        for _ in range(calls):
            if choice.get("type") == "tool":
                tool = next(t for t in tools if t["name"] == choice["name"])
            else:
                tool = rng.choice(tools)
            value = SchemaInstances(tool["input_schema"], rng).generate()
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            blocks.append(
                OutputBlock(
                    "tool_use",
                    text,
                    text_tokens(tool["name"] + text),
                    tool_id=self._ids.next("toolu"),
                    name=tool["name"],
                    input=value,
                )
            )
        return OutputPlan(blocks=tuple(blocks), stop_reason="tool_use")


def _custom_tools(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    tools = body.get("tools") or []
    return [t for t in tools if t.get("type") in (None, "custom") and "input_schema" in t]


def _ends_with_tool_results(body: Mapping[str, Any]) -> bool:
    last = body["messages"][-1]
    if last.get("role") != "user":
        return True  # an assistant prefill is continued in text
    content = last.get("content")
    return isinstance(content, list) and any(
        isinstance(b, Mapping) and b.get("type") == "tool_result" for b in content
    )


def _tool_call_count(
    body: Mapping[str, Any], tools: list[Mapping[str, Any]], requested: int | None
) -> int:
    if not tools:
        return 0
    choice = body.get("tool_choice") or {"type": "auto"}
    kind = choice.get("type", "auto")
    if kind == "none":
        return 0
    if kind in ("any", "tool"):
        count = max(1, requested if requested is not None else 1)
    elif requested is not None:
        count = requested
    else:
        count = 0 if _ends_with_tool_results(body) else 1
    return min(count, 1) if choice.get("disable_parallel_tool_use") else count


def _output_schema(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    config = body.get("output_config")
    if isinstance(config, Mapping):
        fmt = config.get("format")
        if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
            schema = fmt.get("schema")
            return schema if isinstance(schema, Mapping) else None
    return None


def _json_answer(schema: Mapping[str, Any], rng: random.Random, target: int | None) -> str:
    """A schema instance as JSON; with a target, free strings are lengthened toward it."""
    state = rng.getstate()
    first = SchemaInstances(schema, rng)
    text = json.dumps(first.generate(), ensure_ascii=False)
    short = (target or 0) * BYTES_PER_TOKEN - len(text)
    if short <= 0 or first.free_strings == 0:
        return text
    rng.setstate(state)
    extra = math.ceil(short / first.free_strings)
    return json.dumps(
        SchemaInstances(schema, rng, extra_chars=extra).generate(), ensure_ascii=False
    )


def _fit(text: str, max_tokens: int) -> OutputPlan:
    tokens = text_tokens(text)
    if tokens <= max_tokens:
        return OutputPlan(blocks=(OutputBlock("text", text, tokens),), stop_reason="end_turn")
    return _cut_text(
        text.encode("utf-8")[: max_tokens * BYTES_PER_TOKEN].decode("utf-8", "ignore"), max_tokens
    )


def _cut_text(text: str, max_tokens: int) -> OutputPlan:
    return OutputPlan(blocks=(OutputBlock("text", text, max_tokens),), stop_reason="max_tokens")
