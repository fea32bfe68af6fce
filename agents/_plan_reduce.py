"""Hierarchical synthesis, the pure part: pack results into batches that fit a context.

When the results do not fit one synthesis call, they are packed (in order) into batches
that each fit `room` tokens; a result larger than `room` alone is cut into parts at line
breaks where possible. Each batch is condensed by one call, and the condensed notes are
packed again, until one batch remains for the final merge.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

__all__ = ["approx_tokens", "pack", "split_text"]

#: Per result: the `<result task="...">` wrapper and separators.
RESULT_OVERHEAD = 12


def approx_tokens(text: str, chars_per_token: float = 3.5) -> int:
    """A conservative token count for packing (the budget's estimator uses the same ratio)."""
    return math.ceil(len(text) / chars_per_token) + RESULT_OVERHEAD


def split_text(text: str, room: int, tokens: Callable[[str], int]) -> list[str]:
    """`text` in consecutive parts of at most `room` tokens each, cut at line ends if any."""
    if room <= RESULT_OVERHEAD:
        raise ValueError(f"room must be > {RESULT_OVERHEAD} tokens, got {room}")
    parts: list[str] = []
    rest = text
    while tokens(rest) > room:
        # Largest prefix that fits, by bisection on characters.
        low, high = 1, len(rest)
        while low < high:
            middle = (low + high + 1) // 2
            if tokens(rest[:middle]) <= room:
                low = middle
            else:
                high = middle - 1
        cut = rest.rfind("\n", 0, low)
        cut = cut + 1 if cut > low // 2 else low
        parts.append(rest[:cut])
        rest = rest[cut:]
    if rest or not parts:
        parts.append(rest)
    return parts


def pack(
    results: Mapping[str, str], room: int, tokens: Callable[[str], int]
) -> list[dict[str, str]]:
    """`results` in order, in batches of at most `room` tokens; oversized ones split."""
    pieces: list[tuple[str, str]] = []
    for key, text in results.items():
        parts = split_text(text, room, tokens)
        if len(parts) == 1:
            pieces.append((key, parts[0]))
        else:
            pieces += [(f"{key} (part {i}/{len(parts)})", p) for i, p in enumerate(parts, 1)]
    batches: list[dict[str, str]] = []
    current: dict[str, str] = {}
    used = 0
    for key, text in pieces:
        size = tokens(text)
        if current and used + size > room:
            batches.append(current)
            current, used = {}, 0
        current[key] = text
        used += size
    if current or not batches:
        batches.append(current)
    return batches
