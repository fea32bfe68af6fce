"""Acceleration limits: a sharp jump in an organisation's traffic gets 429s.

The API documents that sudden growth can hit `ramp_limit_exceeded` below the limits, but
publishes no numbers, so this rule is the emulator's own and off by default:

Time is cut into fixed windows of `window` seconds (from the first request). A request
is refused when it would make the current window's count exceed
`max(floor, max_growth * previous window's count)`; `retry-after` is the time left in
the window. Traffic below `floor` requests per window never triggers it, and after an
idle window only `floor` requests pass: ramp up gradually. Refused requests do not count.

Pure: callers pass `now`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["RampLimiter"]


@dataclass(slots=True)
class RampLimiter:
    """Request-growth limiter over consecutive fixed windows."""

    window: float
    max_growth: float
    floor: int
    _origin: float | None = field(default=None, init=False)
    _index: int = field(default=0, init=False)
    _current: int = field(default=0, init=False)
    _previous: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.window <= 0:
            raise ValueError(f"ramp window must be > 0 seconds, got {self.window}")
        if self.max_growth < 1:
            raise ValueError(f"ramp max_growth must be >= 1, got {self.max_growth}")
        if self.floor < 1:
            raise ValueError(f"ramp floor must be >= 1 request, got {self.floor}")

    def _roll(self, now: float) -> None:
        if self._origin is None:
            self._origin = now
        index = math.floor((now - self._origin) / self.window)
        if index == self._index + 1:
            self._previous, self._current = self._current, 0
        elif index > self._index + 1:
            self._previous, self._current = 0, 0
        self._index = max(self._index, index)

    def allowance(self, now: float) -> int:
        """How many requests the current window may hold in total."""
        self._roll(now)
        return max(self.floor, math.floor(self.max_growth * self._previous))

    def check(self, now: float) -> int | None:
        """Count one request and return None, or refuse it: seconds until the window ends."""
        allowance = self.allowance(now)  # rolls the window first
        if self._current + 1 <= allowance:
            self._current += 1
            return None
        assert self._origin is not None
        window_end = self._origin + (self._index + 1) * self.window
        return max(1, math.ceil(window_end - now))
