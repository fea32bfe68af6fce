"""`SharedKey`: whether other clients seem to be drawing on the same API key.

Right after a reading our local buckets match the server's (they are pulled down to it).
At the next reading, a server holding *less* than our bucket — refilled at the full
limit, less our own grants — means somebody else took it:

- requests: each of our calls costs exactly one and the server rounds `remaining` down
  to a whole request, so a shortfall of more than one request is someone else's;
- input tokens: our reservations err on the high side (a margin over the calibrated
  estimate, refunded at settlement) and `remaining` is rounded to the nearest
  thousand, so a shortfall beyond the rounding and `INPUT_TOLERANCE` is someone else's
  (or an input we underestimated badly, which calls for the same care).

Such evidence marks the key as shared for `HOLD_S` seconds. A server whose true burst
is smaller than configured shows the same shortfalls until the budget has learned it;
it is then treated as shared, which only makes the budget more careful.

What it changes: in actual accounting the budget credits its running calls' output as
produced from their time on the wire and counts on the refill to cover the rest while
they run (`StreamModel`). Both assume the refill is ours. On a shared key the other
clients' running output is invisible and takes part of the refill, so there the budget
keeps its running calls' reservations out of the bucket instead.
"""

from __future__ import annotations

__all__ = ["HOLD_S", "INPUT_TOLERANCE", "SharedKey"]

#: Seconds a key stays marked as shared after the last sign of other traffic.
HOLD_S = 60.0
#: Input tokens a reading may fall short of our level by (beyond rounding) unremarked.
INPUT_TOLERANCE = 1_000.0


class SharedKey:
    """When the readings last showed traffic that was not ours."""

    __slots__ = ("seen_at",)

    def __init__(self) -> None:
        self.seen_at: float | None = None

    def observe(self, index: int, shortfall: float, now: float) -> None:
        """One reading of bucket `index` (0 requests, 1 input): our level minus `remaining`."""
        if index == 0:
            foreign = shortfall > 1.0
        elif index == 1:
            foreign = shortfall > INPUT_TOLERANCE
        else:
            return
        if foreign:
            self.seen_at = now

    def shared(self, now: float) -> bool:
        """Whether other traffic was seen within the last `HOLD_S` seconds."""
        seen = self.seen_at
        return seen is not None and now - seen < HOLD_S
