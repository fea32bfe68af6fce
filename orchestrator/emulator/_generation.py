"""Generating one admitted answer over time: latency, output accounting, exhaustion.

The answer is produced in chunks (`content.stream_chunk_tokens` for streams,
`content.nonstream_chunk_tokens` otherwise, never above the output bucket's capacity):
wait `first_token` after admission (prompt caching's writes become readable then), then
for each chunk wait its generation time, charge it, and (streaming) emit it.

Charging depends on the accounting mode. `legacy` reserved `max_tokens` at admission;
the unused part is refunded at the end (also when the request fails or is cancelled).
`actual` charges each chunk as it is produced, and when the output bucket cannot cover
it the configured exhaustion mode decides:

- `throttle`: the stream waits on the clock for refill, queued fairly behind the other
  running streams of the same bucket, so their total output rate falls to the refill
  rate (see `OutputGate`);
- `debt`: the chunk is charged anyway; the bucket goes negative and new requests get
  429 until refill repays it;
- `error`: what the bucket still holds is charged and the request fails: a stream ends
  with an SSE `error` event, a non-streaming request gets a 429; the error type is
  `exhaustion_error_type` (`rate_limit_error` by default, naming the output limit,
  because that is the cause; `overloaded_error` is the alternative reading).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from orchestrator.emulator._errors import ApiError, org_label, rate_limit_message
from orchestrator.emulator._sse import sse_event
from orchestrator.emulator._state import EmulatorState
from orchestrator.emulator._throttle import OutputGate
from orchestrator.emulator.buckets import LimitBuckets
from orchestrator.emulator.cache import CachePlan
from orchestrator.emulator.content import OutputBlock, OutputPlan
from orchestrator.emulator.latency import Timing

__all__ = ["Generation", "MidstreamError"]

Emit = Callable[[bytes], Awaitable[None]]


class MidstreamError(Exception):
    """A stream fails after it started: the handler sends this SSE `error` event."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(slots=True)
class Chunk:
    """A piece of one block: its index, text (or partial JSON) and tokens."""

    index: int
    block: OutputBlock
    text: str
    tokens: int


def chunks(plan: OutputPlan, size: int) -> list[Chunk]:
    """The answer cut into chunks of at most `size` tokens per block; each chunk's text is
    the block's text in proportion to its tokens (exactly 4 characters a token for the
    generated ASCII text)."""
    out = []
    for index, block in enumerate(plan.blocks):
        total = max(1, block.tokens)
        length = len(block.text)
        done = 0
        while True:
            tokens = min(size, block.tokens - done)
            start = length * done // total
            done += tokens
            out.append(Chunk(index, block, block.text[start : length * done // total], tokens))
            if done >= block.tokens:
                break
    return out


class Generation:
    """One admitted request's generation; `produced` counts charged output tokens."""

    def __init__(
        self,
        state: EmulatorState,
        *,
        key: str,
        cls: str,
        buckets: LimitBuckets,
        plan: OutputPlan,
        timing: Timing,
        cache_plan: CachePlan,
        reserved: int,
        fail_midstream: bool,
    ) -> None:
        self.state = state
        self.key = key
        self.cls = cls
        self.buckets = buckets
        self.plan = plan
        self.timing = timing
        self.cache_plan = cache_plan
        self.reserved = reserved
        self.fail_midstream = fail_midstream
        self.produced = 0
        config = state.config
        self._legacy = config.accounting == "legacy"
        self._exhaustion = config.exhaustion
        self._gate: OutputGate | None = None
        if not self._legacy and self._exhaustion == "throttle":
            self._gate = state.gate_for(key, cls, buckets)

    async def run(self, emit: Emit | None) -> None:
        """Produce the answer; with `emit`, stream each chunk as SSE events."""
        state = self.state
        clock = state.clock
        content = state.config.content
        size = content.stream_chunk_tokens if emit else content.nonstream_chunk_tokens
        size = max(1, min(size, math.floor(self.buckets.output.capacity)))
        pieces = chunks(self.plan, size)
        fail_at = len(pieces) // 2 if self.fail_midstream else -1
        if self.timing.first_token > 0:
            await clock.sleep(self.timing.first_token)
        if self.cache_plan.writes:
            state.cache.commit(self.cache_plan, clock.now())
        current = 0
        for number, piece in enumerate(pieces):
            if number == fail_at:
                state.stats.midstream_errors += 1
                raise MidstreamError(ApiError(529, "Overloaded"))
            if self.timing.per_token > 0:
                await clock.sleep(piece.tokens * self.timing.per_token)
            await self._charge(piece.tokens)
            if emit is not None:
                events = b""
                if piece.index != current:
                    events += sse_event(
                        "content_block_stop", {"type": "content_block_stop", "index": current}
                    )
                    current = piece.index
                    events += sse_event(
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": current,
                            "content_block": piece.block.start_api(),
                        },
                    )
                events += sse_event("content_block_delta", _delta(piece))
                await emit(events)

    async def _charge(self, tokens: int) -> None:
        state = self.state
        if not self._legacy:
            output = self.buckets.output
            if self._gate is not None:
                await self._gate.take(tokens)
            elif self._exhaustion == "debt" or output.covers(tokens, state.clock.now()):
                output.take(tokens, state.clock.now())
            else:
                now = state.clock.now()
                left = max(0, math.floor(output.level_at(now)))
                output.take(left, now)
                self._count(left)
                state.stats.exhaustion_errors += 1
                limit = self.buckets.limits.otpm
                kind = state.config.exhaustion_error_type
                raise MidstreamError(
                    ApiError(
                        429 if kind == "rate_limit_error" else 529,
                        rate_limit_message(org_label(self.key), limit, "output_tokens"),
                        retry_after=output.retry_after(tokens, now),
                        stat="rate_limit:output_tokens",
                        error_type=kind,
                    )
                )
        self._count(tokens)

    def _count(self, tokens: int) -> None:
        self.produced += tokens
        self.state.stats.output_tokens += tokens

    def settle(self) -> None:
        """Refund the unused part of a legacy reservation (always called, once)."""
        if self._legacy and self.reserved > self.produced:
            self.buckets.output.give(self.reserved - self.produced, self.state.clock.now())
            self.reserved = self.produced


def _delta(piece: Chunk) -> dict[str, object]:
    if piece.block.type == "tool_use":
        delta: dict[str, object] = {"type": "input_json_delta", "partial_json": piece.text}
    else:
        delta = {"type": "text_delta", "text": piece.text}
    return {"type": "content_block_delta", "index": piece.index, "delta": delta}
