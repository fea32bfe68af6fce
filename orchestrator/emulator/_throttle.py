"""`OutputGate`: output throttling for the `throttle` exhaustion mode (async shell)."""

from __future__ import annotations

import asyncio

from orchestrator.clock import Clock
from orchestrator.emulator.buckets import TokenBucket

__all__ = ["OutputGate"]


class OutputGate:
    """Shares an output bucket among running streams in `throttle` mode.

    A chunk that the bucket covers, with nobody queued, passes at once. Otherwise the
    stream queues (FIFO, one chunk per turn, so running streams share the refill evenly)
    and waits on the clock until the bucket covers its chunk. The bucket never goes
    negative, so output by time t never exceeds capacity + rate * t.
    """

    def __init__(self, bucket: TokenBucket, clock: Clock) -> None:
        self._bucket = bucket
        self._clock = clock
        self._lock = asyncio.Lock()
        self._queued = 0  # streams holding or waiting for the lock: nobody may pass them

    async def take(self, amount: int) -> None:
        """Wait until `amount` output tokens are available, then take them."""
        bucket, clock = self._bucket, self._clock
        now = clock.now()
        if self._queued == 0 and bucket.covers(amount, now):
            bucket.take(amount, now)
            return
        self._queued += 1
        try:
            async with self._lock:
                while True:
                    now = clock.now()
                    wait = bucket.seconds_until(amount, now)
                    if wait <= 0:
                        bucket.take(amount, now)
                        return
                    # a microsecond more: a virtual clock rounds, and waking early would spin
                    await clock.sleep(wait + 1e-6)
        finally:
            self._queued -= 1
