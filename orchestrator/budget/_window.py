"""A sliding-window sum in fixed time bins: O(1) per add, O(bins) per read."""

from __future__ import annotations

import math

__all__ = ["SlidingSum"]


class SlidingSum:
    """Amounts added over time, summed over the last `window` seconds (up to `span`)."""

    __slots__ = ("_bins", "_head", "_resolution")

    def __init__(self, span: float = 60.0, resolution: float = 1.0) -> None:
        if span <= 0 or resolution <= 0:
            raise ValueError(f"span and resolution must be > 0, got {span} and {resolution}")
        self._resolution = resolution
        self._bins = [0.0] * (math.ceil(span / resolution) + 1)
        self._head: int | None = None

    def _advance(self, index: int) -> None:
        head = self._head
        bins = self._bins
        if head is None or index - head >= len(bins):
            bins[:] = [0.0] * len(bins)
        elif index > head:
            for i in range(head + 1, index + 1):
                bins[i % len(bins)] = 0.0
        else:
            return
        self._head = index

    def add(self, now: float, amount: float) -> None:
        """Record `amount` at time `now`."""
        index = math.floor(now / self._resolution)
        if index != self._head:
            self._advance(index)  # (a no-op when the newest bin is still current)
        head = self._head if self._head is not None else index
        # A clock that stepped back lands in the newest bin rather than corrupting old ones.
        self._bins[min(index, head) % len(self._bins)] += amount

    def total(self, now: float, window: float) -> float:
        """The sum over the last `window` seconds before `now` (bin resolution)."""
        if self._head is None:
            return 0.0
        index = math.floor(now / self._resolution)
        count = min(len(self._bins) - 1, math.ceil(window / self._resolution))
        first = max(index - count + 1, self._head - len(self._bins) + 1)
        last = min(index, self._head)
        return sum(self._bins[i % len(self._bins)] for i in range(first, last + 1))
