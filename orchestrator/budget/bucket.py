"""`TokenBucket`: the pure arithmetic of one continuously refilling bucket (no asyncio).

The server's buckets refill continuously at `limit / 60` per second up to a burst capacity;
this class mirrors one of them. Time is passed in explicitly (`now`, seconds on any
monotonic time line), so the class is tested with plain floats.

The level may go below zero: that is **debt**. It happens when a settled call used more
than was reserved for it (the server charged it anyway); debt is repaid by refill before
anything new can be granted, because a grant needs `level >= amount > 0`.
"""

from __future__ import annotations

import math

__all__ = ["EPSILON", "TokenBucket"]

#: Relative tolerance for "fits": refill times are computed exactly, but float rounding (and
#: looptime's microsecond resolution) must not leave a waiter a hair short forever.
EPSILON = 1e-9


class TokenBucket:
    """A token bucket with burst `capacity`, refill `rate` per second and a (signed) level.

    ```python
    b = TokenBucket(capacity=30_000, rate=500.0, now=0.0)
    b.take(20_000, now=0.0)
    b.time_until(15_000, now=0.0)  # -> 10.0 seconds
    ```
    """

    __slots__ = ("_capacity", "_level", "_rate", "_updated")

    def __init__(
        self, capacity: float, rate: float, *, now: float = 0.0, level: float | None = None
    ) -> None:
        if capacity <= 0:
            raise ValueError(f"bucket capacity must be > 0, got {capacity}")
        if rate <= 0:
            raise ValueError(f"bucket rate must be > 0 per second, got {rate}")
        self._capacity = float(capacity)
        self._rate = float(rate)
        self._level = self._capacity if level is None else min(float(level), self._capacity)
        self._updated = now

    def __repr__(self) -> str:
        return (
            f"TokenBucket(capacity={self._capacity:g}, rate={self._rate:g}/s, "
            f"level={self._level:g} at t={self._updated:g})"
        )

    @property
    def capacity(self) -> float:
        """Burst capacity: the most the bucket holds."""
        return self._capacity

    @property
    def rate(self) -> float:
        """Refill per second."""
        return self._rate

    def _refill(self, now: float) -> float:
        # A clock that steps back (e.g. a re-based virtual loop) must not drain the bucket.
        elapsed = now - self._updated
        if elapsed > 0:
            level, capacity = self._level, self._capacity
            if level < capacity:
                # min(capacity, refilled), without the builtin call (this is the hot path)
                refilled = level + self._rate * elapsed
                self._level = refilled if refilled < capacity else capacity
            self._updated = now
        return self._level

    def level(self, now: float) -> float:
        """The signed level at `now`: negative means debt."""
        return self._refill(now)

    def available(self, now: float) -> float:
        """What could be granted at `now` (0 while in debt)."""
        return max(0.0, self._refill(now))

    def debt(self, now: float) -> float:
        """How far below zero the bucket is at `now`."""
        return max(0.0, -self._refill(now))

    def fits(self, amount: float, now: float) -> bool:
        """Whether `amount` can be granted at `now` without going into debt."""
        return self._refill(now) + EPSILON * (amount if amount > 1.0 else 1.0) >= amount

    def take(self, amount: float, now: float) -> None:
        """Remove `amount` (a grant after `fits`, or a debt charge at settlement)."""
        if amount < 0:
            raise ValueError(f"take needs amount >= 0, got {amount}")
        self._refill(now)
        self._level -= amount

    def refund(self, amount: float, now: float) -> float:
        """Give back `amount`, never above capacity; returns what was actually credited."""
        if amount < 0:
            raise ValueError(f"refund needs amount >= 0, got {amount}")
        level = self._refill(now)
        credited = min(amount, self._capacity - level)
        if credited <= 0:
            return 0.0
        self._level = level + credited
        return credited

    def pull_down(self, ceiling: float, now: float) -> float:
        """Lower the level to at most `ceiling` (never raises it); returns what was removed."""
        level = self._refill(now)
        if ceiling >= level:
            return 0.0
        self._level = ceiling
        return level - ceiling

    def time_until(self, amount: float, now: float) -> float:
        """Seconds until `amount` fits (0 if it fits now, inf if it exceeds capacity)."""
        if amount > self._capacity * (1.0 + EPSILON):
            return math.inf
        level = self._refill(now)
        if level + EPSILON * max(1.0, amount) >= amount:
            return 0.0
        return (amount - level) / self._rate

    def resize(self, capacity: float, now: float, *, rate: float | None = None) -> None:
        """Change the burst capacity (and optionally the rate); the level is clamped to it."""
        if capacity <= 0:
            raise ValueError(f"bucket capacity must be > 0, got {capacity}")
        if rate is not None and rate <= 0:
            raise ValueError(f"bucket rate must be > 0 per second, got {rate}")
        self._refill(now)
        self._capacity = float(capacity)
        if rate is not None:
            self._rate = float(rate)
        self._level = min(self._level, self._capacity)
