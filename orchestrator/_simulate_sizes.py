"""What each simulated task answers: its output size, told to the emulator per request.

A simulation cannot know how long real answers will be, so it assumes: a task's declared
`expected_output_tokens` (task, then agent) when given, else `DEFAULT_OUTPUT_FRACTION` of
its `max_tokens`. `OutputSizes(tokens=N)` makes every task answer N tokens and
`OutputSizes(fraction=F)` every task F x its max_tokens, declared or not (what-ifs).

The emulator is told through `metadata.emulator_output_tokens` on each request, added by
`SizingClient` around the real client. The worker does not know the simulation exists, so
the client learns which task a request belongs to from `TaskTag`, a `RunHooks` whose
`on_task_start` runs in the task's own asyncio task right before its executor: it sets a
context variable that every request of that task then sees. Tool calls are switched off
(`metadata.emulator_tool_calls = 0`): a simulation must not run the workflow's tools.
"""

from __future__ import annotations

import contextvars
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from agents.client import LLMClient, LLMRequest, LLMResponse, StreamEventHandler, TokenCount
from orchestrator.graph import TaskGraph, TaskNode
from orchestrator.hooks import RunHooks

__all__ = [
    "DEFAULT_OUTPUT_FRACTION",
    "OutputSizes",
    "SizeSource",
    "SizingClient",
    "TaskSize",
    "TaskTag",
    "task_sizes",
]

DEFAULT_OUTPUT_FRACTION = 0.4
"""Share of `max_tokens` a task without a declared expected output is assumed to answer."""

SizeSource = Literal["declared", "fraction", "fixed"]

_current_task: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "dagwright_simulated_task", default=None
)


@dataclass(frozen=True, kw_only=True, slots=True)
class OutputSizes:
    """The output-size assumption: `tokens` for every task, else `fraction` of max_tokens.

    With neither, declared sizes are used and the default fraction fills the rest.
    """

    tokens: int | None = None
    fraction: float | None = None

    def __post_init__(self) -> None:
        if self.tokens is not None and self.fraction is not None:
            raise ValueError("give an output size in tokens or as a fraction, not both")
        if self.tokens is not None and self.tokens < 1:
            raise ValueError(f"output tokens must be >= 1, got {self.tokens}")
        if self.fraction is not None and not 0 < self.fraction <= 1:
            raise ValueError(f"output fraction must be in (0, 1], got {self.fraction}")

    def describe(self) -> str:
        """One line for the report."""
        if self.tokens is not None:
            return f"every task answers {self.tokens:,} tokens (capped at its max_tokens)"
        if self.fraction is not None:
            return f"every task answers {self.fraction:.0%} of its max_tokens"
        return (
            "declared expected_output_tokens, else "
            f"{DEFAULT_OUTPUT_FRACTION:.0%} of the task's max_tokens"
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskSize:
    """The output one task is assumed to produce per model turn, and why."""

    tokens: int
    source: SizeSource


def _size(node: TaskNode, declared: int | None, sizes: OutputSizes) -> TaskSize:
    if sizes.tokens is not None:
        return TaskSize(tokens=min(sizes.tokens, node.max_tokens), source="fixed")
    if sizes.fraction is None and declared is not None:
        return TaskSize(tokens=min(declared, node.max_tokens), source="declared")
    fraction = sizes.fraction if sizes.fraction is not None else DEFAULT_OUTPUT_FRACTION
    return TaskSize(tokens=max(1, round(node.max_tokens * fraction)), source="fraction")


def task_sizes(
    graph: TaskGraph, declared: Mapping[str, int | None], sizes: OutputSizes
) -> dict[str, TaskSize]:
    """The assumed output of every model task of `graph` (function steps have none).

    `declared` holds each task's declared `expected_output_tokens` (task, then agent).
    """
    return {
        node.id: _size(node, declared.get(node.id), sizes) for node in graph if node.kind != "step"
    }


class TaskTag(RunHooks):
    """Marks the running asyncio task with its dagwright task id (see the module doc)."""

    async def on_task_start(self, task_id: str, node: TaskNode) -> None:
        _current_task.set(task_id)


class SizingClient:
    """An `LLMClient` that asks the emulator for each task's assumed output size."""

    def __init__(
        self, inner: LLMClient, sizes: Mapping[str, TaskSize], *, default_tokens: int
    ) -> None:
        self.inner = inner
        self.sizes = dict(sizes)
        self.default_tokens = default_tokens

    def _sized(self, request: LLMRequest) -> LLMRequest:
        task_id = _current_task.get()
        size = self.sizes.get(task_id) if task_id is not None else None
        tokens = size.tokens if size is not None else self.default_tokens
        metadata = dict(request.metadata or {})
        metadata.setdefault("emulator_output_tokens", max(1, tokens))
        metadata.setdefault("emulator_tool_calls", 0)
        return dataclasses.replace(request, metadata=metadata)

    async def create(self, request: LLMRequest) -> LLMResponse:
        return await self.inner.create(self._sized(request))

    async def stream(
        self, request: LLMRequest, on_event: StreamEventHandler | None = None
    ) -> LLMResponse:
        return await self.inner.stream(self._sized(request), on_event)

    async def count_tokens(self, request: LLMRequest) -> TokenCount:
        return await self.inner.count_tokens(request)

    async def aclose(self) -> None:
        """Close the wrapped client."""
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()
