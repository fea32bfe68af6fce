"""Prompt caching: breakpoints, prefix keys, and a TTL store of written prefixes.

`cache_control: {"type": "ephemeral"}` (optional `"ttl": "5m" | "1h"`) on a tool, a
system block or a message block marks a breakpoint; a top-level `cache_control` marks
the last block of the last message. The prefix up to a breakpoint, in the API's order
tools -> system -> messages, is keyed by a hash of the scope (API key and exact model)
and of the canonical JSON of every item so far, with message boundaries and roles
(`cache_control` itself is left out, so moving a marker does not change earlier keys).

A request reads the longest prefix that is cached (`cache_read_input_tokens`): as in the
API, a hit is looked for at each breakpoint and at the block boundaries up to
`LOOKBACK_BLOCKS` before it, so a conversation that moves its breakpoint forward reads
what the previous turn wrote. It writes everything from there up to its last breakpoint
whose prefix reaches the minimum length (`cache_creation_input_tokens`, split by TTL:
each segment between two breakpoints takes the TTL of the breakpoint that ends it),
creating an entry at each such breakpoint. Below the minimum nothing is cached. A hit
refreshes the entry's TTL.

When a written entry becomes readable is not documented. The emulator assumes: once its
writing request has produced its first token. Requests admitted before that (parallel
fan-out) miss and write the same prefix again, which matches reports of 0% cross-agent
hits on first calls. The store is pure: callers pass `now`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.emulator.tokens import compact_json, prompt_items, schema_tokens

__all__ = [
    "LOOKBACK_BLOCKS",
    "Breakpoint",
    "CachePlan",
    "PromptCache",
    "PromptShape",
    "prompt_shape",
]

TTL_NAMES = ("5m", "1h")

#: How many block boundaries before a breakpoint are also checked for a hit (the API's 20).
LOOKBACK_BLOCKS = 20


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """A cacheable prefix: its key, its length in tokens, its TTL name, and its position
    (the index of the block that ends it)."""

    key: str
    tokens: int
    ttl: str
    position: int


@dataclass(frozen=True, slots=True)
class PromptShape:
    """A prompt's total input tokens, its breakpoints, and the prefix key and length at
    every block boundary (`keys[i]`, `tokens[i]`: the prefix ending with block `i`)."""

    total_tokens: int
    breakpoints: tuple[Breakpoint, ...]
    keys: tuple[str, ...] = ()
    tokens: tuple[int, ...] = ()


def _ttl_of(marker: Any) -> str | None:
    """The TTL name of a `cache_control` marker, or None if it is not one."""
    if not isinstance(marker, Mapping) or marker.get("type") != "ephemeral":
        return None
    ttl = marker.get("ttl", "5m")
    return ttl if ttl in TTL_NAMES else "5m"


def prompt_shape(body: Mapping[str, Any], scope: str) -> PromptShape:
    """Walk the prompt once: total tokens and the key of every breakpoint's prefix."""
    digest = hashlib.sha256(scope.encode("utf-8"))
    breakpoints: list[Breakpoint] = []
    keys: list[str] = []
    lengths: list[int] = []
    tokens = 0
    items = list(prompt_items(body))
    auto_ttl = _ttl_of(body.get("cache_control"))
    last = len(items) - 1
    for index, item in enumerate(items):
        tokens += item.tokens
        block = item.block
        if item.first_in_message:
            digest.update(f"\x00message:{item.role}\x00".encode())
        else:
            digest.update(f"\x00{item.section}\x00".encode())
        if isinstance(block, Mapping):
            marker = block.get("cache_control")
            plain = {k: v for k, v in block.items() if k != "cache_control"}
            digest.update(compact_json(plain).encode("utf-8"))
        else:
            marker = None
            digest.update(compact_json(block).encode("utf-8"))
        key = digest.hexdigest()
        keys.append(key)
        lengths.append(tokens)
        ttl = _ttl_of(marker)
        if ttl is None and index == last and item.section == "messages":
            ttl = auto_ttl
        if ttl is not None:
            breakpoints.append(Breakpoint(key=key, tokens=tokens, ttl=ttl, position=index))
    return PromptShape(
        total_tokens=tokens + schema_tokens(body),
        breakpoints=tuple(breakpoints),
        keys=tuple(keys),
        tokens=tuple(lengths),
    )


@dataclass(frozen=True, slots=True)
class CachePlan:
    """What one request reads from and writes to the cache."""

    read_tokens: int = 0
    write_5m_tokens: int = 0
    write_1h_tokens: int = 0
    hit_key: str | None = None
    writes: tuple[Breakpoint, ...] = ()
    had_breakpoints: bool = False

    @property
    def write_tokens(self) -> int:
        """All cache-creation tokens."""
        return self.write_5m_tokens + self.write_1h_tokens


NO_CACHE = CachePlan()


class PromptCache:
    """Written prefixes with their expiry times and TTLs; `now` comes from the caller."""

    _PURGE_EVERY = 1024

    def __init__(self, *, ttl_5m: float = 300.0, ttl_1h: float = 3600.0) -> None:
        self._ttl = {"5m": ttl_5m, "1h": ttl_1h}
        self._entries: dict[str, tuple[float, float]] = {}
        self._commits = 0

    def __len__(self) -> int:
        return len(self._entries)

    def readable(self, key: str, now: float) -> bool:
        """Whether the prefix `key` can be read at `now`."""
        entry = self._entries.get(key)
        return entry is not None and entry[0] > now

    def _longest_hit(self, shape: PromptShape, now: float) -> int:
        """The position of the longest readable prefix near a breakpoint, or -1."""
        for bp in reversed(shape.breakpoints):
            for position in range(bp.position, max(-1, bp.position - LOOKBACK_BLOCKS), -1):
                if self.readable(shape.keys[position], now):
                    return position
        return -1

    def plan(self, shape: PromptShape, min_tokens: int, now: float) -> CachePlan:
        """The read and writes for a request of this shape (changes nothing)."""
        if not shape.breakpoints:
            return NO_CACHE
        hit = self._longest_hit(shape, now)
        read = shape.tokens[hit] if hit >= 0 else 0
        hit_key = shape.keys[hit] if hit >= 0 else None
        rest = [bp for bp in shape.breakpoints if bp.position > hit]
        written = [bp for bp in rest if bp.tokens >= min_tokens]
        if not written:
            return CachePlan(read_tokens=read, hit_key=hit_key, had_breakpoints=True)
        by_ttl = {"5m": 0, "1h": 0}
        previous = read
        for bp in rest:
            if bp.position > written[-1].position:
                break
            by_ttl[bp.ttl] += bp.tokens - previous
            previous = bp.tokens
        return CachePlan(
            read_tokens=read,
            write_5m_tokens=by_ttl["5m"],
            write_1h_tokens=by_ttl["1h"],
            hit_key=hit_key,
            writes=tuple(written),
            had_breakpoints=True,
        )

    def refresh(self, plan: CachePlan, now: float) -> None:
        """A request read `plan.hit_key`: its TTL starts again."""
        if plan.hit_key is not None and plan.hit_key in self._entries:
            ttl = self._entries[plan.hit_key][1]
            self._entries[plan.hit_key] = (now + ttl, ttl)

    def commit(self, plan: CachePlan, now: float) -> None:
        """The writing request produced its first token: its prefixes become readable."""
        for bp in plan.writes:
            ttl = self._ttl[bp.ttl]
            old = self._entries.get(bp.key)
            if old is None or old[0] < now + ttl:
                self._entries[bp.key] = (now + ttl, ttl)
        self._commits += 1
        if self._commits % self._PURGE_EVERY == 0:
            self._entries = {k: e for k, e in self._entries.items() if e[0] > now}

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()
