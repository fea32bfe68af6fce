"""`CapacityLearner`: learns a bucket's true burst capacity from what the server shows.

The documented capacity of a bucket is its per-minute limit, but a server may enforce a
smaller burst (e.g. "60 RPM as 1 request per second"). Evidence comes in two kinds:

- an **upper bound** (capacity <= x): a `remaining` reading while our own bucket was full
  (the server's bucket, refilled at the same rate from the same charges, must then be full
  too, so its capacity is what it shows), or a 429 for a lease admitted with room to spare
  (capacity < configured - level after that grant, see `ModelAccount`);
- a **lower bound** (capacity >= x): any `remaining` reading (less the rounding).

One upper bound alone is not trusted (another client on the key, a mis-estimated input):
the capacity drops only when a second significant upper bound arrives within
`confirm_within` seconds, and then to the smaller of the two (both bound the same
capacity; the larger one would leave the bucket above the server's and keep drawing 429s,
e.g. 2,500 from a reading of "2,000" when the true burst is 1,500). Lower bounds raise
the estimate back at once (never above the configured capacity), so a wrong guess heals
as soon as the server shows more than it.
"""

from __future__ import annotations

import math

__all__ = ["CapacityLearner"]


class CapacityLearner:
    """The learned capacity of one bucket (starts at the configured capacity)."""

    __slots__ = (
        "_candidate",
        "_candidate_at",
        "configured",
        "confirm_within",
        "estimate",
        "floor",
        "significant",
    )

    def __init__(
        self,
        configured: float,
        *,
        floor: float = 1.0,
        confirm_within: float = 120.0,
        significant: float = 0.9,
    ) -> None:
        self.configured = configured
        self.estimate = configured
        #: Never learn below this (the largest single amount the server is known to accept).
        self.floor = floor
        self.confirm_within = confirm_within
        #: An upper bound counts only when below `significant * estimate`.
        self.significant = significant
        self._candidate = math.inf
        self._candidate_at = -math.inf

    def __repr__(self) -> str:
        return f"CapacityLearner(configured={self.configured:g}, estimate={self.estimate:g})"

    def upper_bound(self, bound: float, now: float) -> float | None:
        """Evidence that the capacity is at most `bound`; returns the new estimate if lowered."""
        bound = max(bound, self.floor)
        if bound >= self.significant * self.estimate:
            return None
        if now - self._candidate_at > self.confirm_within or math.isinf(self._candidate):
            self._candidate, self._candidate_at = bound, now
            return None
        self.estimate = max(min(bound, self._candidate), self.floor)
        self._candidate, self._candidate_at = math.inf, -math.inf
        return self.estimate

    def lower_bound(self, bound: float) -> float | None:
        """Evidence that the capacity is at least `bound`; returns the new estimate if raised."""
        if bound > self.floor:
            self.floor = min(bound, self.configured)
        if bound <= self.estimate:
            return None
        self.estimate = min(self.configured, bound)
        return self.estimate

    def reconfigure(self, configured: float) -> None:
        """A new configured capacity (limits learned or lowered from `-limit` headers)."""
        self.configured = configured
        self.estimate = min(self.estimate, configured)
        self.floor = min(self.floor, configured)
