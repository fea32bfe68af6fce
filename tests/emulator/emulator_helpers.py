"""Helpers shared by the emulator tests."""

from __future__ import annotations

from typing import Any

from orchestrator.emulator import EmulatorConfig

MODEL = "claude-sonnet-4-6"
"""A current model of class sonnet-4 (the SDK warns about deprecated ones)."""

USER: Any = [{"role": "user", "content": "Hello there."}]
"""One user turn (typed `Any`: the SDK's TypedDicts add nothing to tests)."""


def meta(output_tokens: int) -> Any:
    """`metadata` asking the emulator for exactly `output_tokens` output tokens."""
    return {"emulator_output_tokens": output_tokens}


def config(**options: Any) -> EmulatorConfig:
    """A configuration from plain options, instant answers unless `latency` is given."""
    loaded = EmulatorConfig.load(options)
    return loaded if "latency" in options else loaded.without_latency()


def limits(
    rpm: int = 10_000, itpm: int = 10_000_000, otpm: int = 10_000_000, **more: Any
) -> dict[str, Any]:
    """A `limits` option for all model classes."""
    return {"*": {"rpm": rpm, "itpm": itpm, "otpm": otpm, **more}}


def text_of(message: Any) -> str:
    """All text blocks of an SDK message, joined."""
    return "".join(block.text for block in message.content if block.type == "text")


def tool_uses(message: Any) -> list[Any]:
    """The `tool_use` blocks of an SDK message."""
    return [block for block in message.content if block.type == "tool_use"]
