"""`StreamModel`: how fast a model class's running calls draw the output bucket (actual mode).

In actual accounting the server charges output as it is generated. Its `remaining`
reading already counts what the running calls have produced; what they will still
produce is not in it yet. Admission must keep that future output within the bucket, but
the bucket refills while the calls run, so the whole of it need not be there now.

The model keeps two speeds per class, learned from settled calls (output tokens over
admission-to-end seconds, which includes the time to first token, so it reads slower
than the decoding speed):

- `slow`: a cautious speed for *what a call has produced by now*. It follows a slower
  call down at once and a faster one up slowly, so the output credited to a running
  call is rarely more than it really produced (a server that throttles shows up as
  slower calls, and the credit shrinks with it).
- `fast`: a high speed for *how quickly the rest may arrive*. It follows a faster call
  up at once and decays slowly, with a margin, because a faster stream draws the bucket
  down sooner.

`deficit(now, rate)` is the most the running calls' remaining output can outrun the
refill: with `u_i` the output call i has left and every call producing at `fast` until
it is done, the bucket changes by `rate * t - sum_i min(fast * t, u_i)` over the next
t seconds. That function is convex, so its lowest point is where the calls still
producing fall to `rate / fast`: at t* = the (k+1)-th largest `u_i` / `fast`, with
k = floor(rate / fast). O(n log k) per reading. Before any call of the class has
settled the speeds are unknown and the deficit is the whole remaining output (no credit).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable

from orchestrator.budget.lease import Lease

__all__ = ["StreamModel"]

#: How fast `fast` decays towards slower observations, and `slow` rises to faster ones.
_DRIFT = 0.05
#: `fast` is this much above the fastest observed admission-to-end speed.
_FAST_MARGIN = 1.25


class StreamModel:
    """Running calls of one model class and the speeds at which they produce output."""

    __slots__ = ("fast", "running", "slow")

    def __init__(self) -> None:
        self.running: set[Lease] = set()
        self.slow: float | None = None
        self.fast: float | None = None

    def start(self, lease: Lease) -> None:
        self.running.add(lease)

    def end(self, lease: Lease) -> None:
        self.running.discard(lease)

    def learn(self, output_tokens: int, seconds: float) -> None:
        """A call produced `output_tokens` in `seconds` from admission to its end."""
        if output_tokens <= 0 or seconds <= 0:
            return
        speed = output_tokens / seconds
        if not math.isfinite(speed):
            return  # a call that took no measurable time says nothing about speed
        slow, fast = self.slow, self.fast
        self.slow = speed if slow is None or speed < slow else slow + _DRIFT * (speed - slow)
        high = speed * _FAST_MARGIN
        self.fast = high if fast is None or high > fast else fast + _DRIFT * (high - fast)

    def left(self, now: float) -> list[float]:
        """Output each running call is still expected to produce (positive entries only)."""
        slow = self.slow
        remaining = []
        for lease in self.running:
            done = float(lease.produced)
            if slow is not None and lease.admitted_at is not None:
                done = max(done, slow * (now - lease.admitted_at))
            rest = lease.reserved[2] - done
            if rest > 0:
                remaining.append(rest)
        return remaining

    def deficit(self, now: float, rate: float) -> float:
        """The most the running calls' remaining output can exceed the refill by."""
        return deficit(self.left(now), rate, self.fast)


def deficit(left: Iterable[float], rate: float, fast: float | None) -> float:
    """max over t >= 0 of `sum_i min(fast * t, u_i) - rate * t` (see the module doc)."""
    amounts = [u for u in left if u > 0]
    if fast is None or fast <= 0:
        return sum(amounts)
    k = int(rate // fast)
    if len(amounts) <= k:
        return 0.0
    pivot = heapq.nlargest(k + 1, amounts)[-1]
    return max(0.0, sum(min(u, pivot) for u in amounts) - rate * pivot / fast)
