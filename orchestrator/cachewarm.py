"""Warm-first: calls that share a cacheable prefix wait for one of them to write the cache.

Sent together, N calls with the same cached prefix all miss the cache and each writes it
(and each is charged the whole prefix against the input-token limit): an entry becomes
readable only once its writer is under way. The gate lets the first such call go as the
*writer*; its siblings wait, holding no budget, until the writer's response reports the
write (`cache_creation_input_tokens > 0`, or a read of an entry already there), then go
as *readers* whose `cached_tokens` cover the prefix, so their leases exclude it (cache
reads do not count toward ITPM).

- Prefixes are keyed per model by the content up to each `cache_control` breakpoint
  (`orchestrator._cache_prefix`); only those at least the model's minimum cacheable
  length (`MIN_CACHEABLE_TOKENS`, estimated locally) are gated.
- A writer that fails or is cancelled hands over: the next waiter becomes the writer.
- A writer whose response shows no cache activity (the server did not cache the prefix,
  e.g. a higher minimum than assumed) marks the prefix *cold*: nobody waits on it again.
- A warm prefix is remembered for `ttl_fraction` of its TTL, counted from its last write
  or read on the injected clock; after that the next call writes it again.
- A writer is sent as a stream (`stream_writers`): an entry is written by the time the
  model produces its first token, so the siblings go at the writer's first content delta
  when its `message_start` usage shows the write, not when its whole answer is in.
  (`BudgetedCaller` passes every stream event to `on_stream_event`.)
"""

from __future__ import annotations

import asyncio
import contextvars
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agents.client import LLMRequest
from agents.estimate import InputEstimator
from agents.usage import Usage
from orchestrator._cache_prefix import PrefixMark, has_breakpoint, prefix_marks
from orchestrator.clock import Clock
from orchestrator.limits import model_class

if TYPE_CHECKING:
    from orchestrator.call import CallOutcome

__all__ = [
    "DEFAULT_MIN_CACHEABLE_TOKENS",
    "MIN_CACHEABLE_TOKENS",
    "WarmFirstGate",
    "WarmFirstStatistics",
]

#: The shortest cacheable prefix, for model classes not in `MIN_CACHEABLE_TOKENS`.
DEFAULT_MIN_CACHEABLE_TOKENS = 1_024
#: The shortest cacheable prefix per model class (the emulator's defaults too).
MIN_CACHEABLE_TOKENS: Mapping[str, int] = {"haiku-4": 2_048, "haiku-5": 2_048}

_PURGE_EVERY = 256


@dataclass(frozen=True, kw_only=True, slots=True)
class WarmFirstStatistics:
    """What the gate did: calls sent as writers of a new prefix, calls sent as readers of a
    warm one (a call that reads a shared prefix and writes its own longer one is both),
    calls that waited for a writer and for how long in all, prefixes found uncacheable."""

    writers: int
    readers: int
    waited: int
    waited_s: float
    cold_prefixes: int


@dataclass(slots=True)
class _Warm:
    expires_at: float
    tokens: int | None  # exact size when a writer's usage told it, else None


@dataclass(frozen=True, slots=True)
class _Plan:
    read: PrefixMark | None
    write: tuple[PrefixMark, ...]
    blocked_on: asyncio.Event | None


@dataclass(slots=True)
class _Claim:
    """A writer's hold on the prefixes it writes; `cached` from its `message_start`."""

    marks: list[PrefixMark]
    events: dict[str, asyncio.Event]
    cached: int = 0
    released: bool = False


#: The claim of the writer whose call runs in this task (for its stream events).
_CLAIM: contextvars.ContextVar[_Claim | None] = contextvars.ContextVar(
    "dagwright_cache_claim", default=None
)


class WarmFirstGate:
    """Orders calls that share a cacheable prefix: one writer first, then readers."""

    def __init__(
        self,
        *,
        inputs: InputEstimator,
        clock: Clock,
        min_tokens: Mapping[str, int] | None = None,
        default_min_tokens: int = DEFAULT_MIN_CACHEABLE_TOKENS,
        ttl_fraction: float = 0.9,
        stream_writers: bool = True,
    ) -> None:
        if not 0.0 < ttl_fraction <= 1.0:
            raise ValueError(
                f"ttl_fraction must be in (0, 1] (the share of a cache entry's TTL the gate "
                f"trusts it), got {ttl_fraction}"
            )
        self.inputs = inputs
        self.clock = clock
        self.min_tokens = dict(MIN_CACHEABLE_TOKENS if min_tokens is None else min_tokens)
        self.default_min_tokens = default_min_tokens
        self.ttl_fraction = ttl_fraction
        self.stream_writers = stream_writers
        self._warm: dict[str, _Warm] = {}
        self._cold: dict[str, float] = {}
        self._writing: dict[str, asyncio.Event] = {}
        self._writers = self._readers = self._waited = self._settled = 0
        self._waited_s = 0.0

    def min_cacheable(self, model: str) -> int:
        """The shortest prefix `model` caches, in tokens."""
        cls = model_class(model)
        return self.min_tokens.get(cls, self.default_min_tokens) if cls else self.default_min_tokens

    def statistics(self) -> WarmFirstStatistics:
        """A snapshot of the counters."""
        now = self.clock.now()
        return WarmFirstStatistics(
            writers=self._writers,
            readers=self._readers,
            waited=self._waited,
            waited_s=self._waited_s,
            cold_prefixes=sum(1 for until in self._cold.values() if until > now),
        )

    def is_warm(self, key: str) -> bool:
        """Whether the prefix `key` is known to be in the cache now."""
        warm = self._warm.get(key)
        return warm is not None and warm.expires_at > self.clock.now()

    def applies(self, request: LLMRequest) -> bool:
        """False for a request without a `cache_control` breakpoint: `call` would send it at
        once and as it is, so a caller may skip the gate (most requests have none)."""
        return has_breakpoint(request)

    async def call(
        self,
        request: LLMRequest,
        *,
        cached_tokens: int,
        send: Callable[[int, bool], Awaitable[CallOutcome]],
        exact_input: bool = False,
    ) -> CallOutcome:
        """Run `send(cached_tokens, stream)` once the request may go, as a writer or a
        reader; `stream` asks for a streamed call (writers, with `stream_writers`).

        A reader's `cached_tokens` is its prefix on the scale of the caller's input
        estimate (calibrated, with the margin), so that estimate minus it is the estimate
        of the rest; with `exact_input` (the caller knows the prompt's exact size) it is
        the prefix's size as the server reported it, when known.
        """
        marks = list(prefix_marks(request, self.inputs))
        if marks:
            ratio = self.inputs.ratio(request.model)
            floor = self.min_cacheable(request.model)
            marks = [m for m in marks if math.ceil(m.raw * ratio) >= floor]
        if not marks:
            return await send(cached_tokens, False)
        started = self.clock.now()
        waited = False
        while True:
            plan = self._plan(marks)
            if plan.blocked_on is None:
                break
            waited = True
            await plan.blocked_on.wait()
        if waited:
            self._waited += 1
            self._waited_s += self.clock.now() - started
        claim = _Claim(marks=marks, events={mark.key: asyncio.Event() for mark in plan.write})
        self._writing.update(claim.events)
        self._writers += bool(plan.write)
        self._readers += plan.read is not None
        reading = self._read_tokens(request.model, plan.read, exact_input)
        token = _CLAIM.set(claim if plan.write else None)
        try:
            outcome = await send(
                max(cached_tokens, reading), bool(plan.write) and self.stream_writers
            )
        finally:
            _CLAIM.reset(token)
            # Success, failure or cancellation: the claims end and the waiters look again.
            self._release(claim)
        self._settle(marks, plan, outcome.response.usage)
        return outcome

    def on_stream_event(self, event: Mapping[str, Any]) -> None:
        """A stream event of the call running in this task: a writer's first content delta
        after a `message_start` that reports a cache write (or read) releases its waiters."""
        claim = _CLAIM.get()
        if claim is None or claim.released:
            return
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message")
            usage = message.get("usage") if isinstance(message, Mapping) else None
            if isinstance(usage, Mapping):
                claim.cached = int(usage.get("cache_creation_input_tokens") or 0) + int(
                    usage.get("cache_read_input_tokens") or 0
                )
        elif kind == "content_block_delta" and claim.cached > 0:
            self._mark_warm(claim.marks, claim.cached)
            self._release(claim)

    def _release(self, claim: _Claim) -> None:
        if claim.released:
            return
        claim.released = True
        for key, done in claim.events.items():
            if self._writing.get(key) is done:
                del self._writing[key]
            done.set()

    def _read_tokens(self, model: str, mark: PrefixMark | None, exact_input: bool) -> int:
        if mark is None:
            return 0
        warm = self._warm[mark.key]
        if exact_input and warm.tokens is not None:
            return warm.tokens
        scale = self.inputs.ratio(model) * (1.0 if exact_input else self.inputs.margin)
        return math.ceil(mark.raw * scale)

    def _plan(self, marks: list[PrefixMark]) -> _Plan:
        """Read the longest warm prefix; write the longer ones unless another call is."""
        now = self.clock.now()
        read: PrefixMark | None = None
        for mark in reversed(marks):
            if self.is_warm(mark.key):
                read = mark
                break
        longer = marks[marks.index(read) + 1 :] if read is not None else marks
        write = tuple(m for m in longer if self._cold.get(m.key, -1.0) <= now)
        for mark in write:
            busy = self._writing.get(mark.key)
            if busy is not None:
                return _Plan(read=read, write=(), blocked_on=busy)
        return _Plan(read=read, write=write, blocked_on=None)

    def _settle(self, marks: list[PrefixMark], plan: _Plan, usage: Usage) -> None:
        now = self.clock.now()
        cached = usage.cache_creation_input_tokens + usage.cache_read_input_tokens
        if cached <= 0:
            # The server cached nothing: the prefixes this call would write are not cacheable
            # (as far as we can tell for a TTL); a stale warm read is forgotten.
            for mark in plan.write:
                self._cold[mark.key] = now + mark.ttl_s
            if plan.read is not None:
                self._warm.pop(plan.read.key, None)
        else:
            self._mark_warm(marks, cached)
        self._settled += 1
        if self._settled % _PURGE_EVERY == 0:
            self._warm = {k: w for k, w in self._warm.items() if w.expires_at > now}
            self._cold = {k: until for k, until in self._cold.items() if until > now}

    def _mark_warm(self, marks: list[PrefixMark], cached: int) -> None:
        """The server wrote (or read) up to the longest breakpoint it could cache, and every
        mark here is long enough: all of them are in the cache now."""
        now = self.clock.now()
        exact = cached if len(marks) == 1 else None
        for mark in marks:
            old = self._warm.get(mark.key)
            tokens = exact if exact is not None else (old.tokens if old else None)
            self._warm[mark.key] = _Warm(now + self.ttl_fraction * mark.ttl_s, tokens)
            self._cold.pop(mark.key, None)
