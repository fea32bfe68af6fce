"""The emulated server's token buckets: pure arithmetic over plain numbers, no I/O.

Every method takes `now` (seconds on the emulator's clock); nothing here reads a clock,
sleeps or awaits, so it is tested without an event loop.

A bucket holds at most `capacity` (the burst capacity) and refills continuously at
`rate` per second (limit / 60), as the API's rate limiter does. It may go negative:
that is the "debt" exhaustion mode, where running streams finish and overdraw it.

`LimitBuckets` groups the three buckets of one (API key, model class) and decides
admission:

- requests: 1 per request;
- input tokens: the ITPM-counted input (uncached input + cache writes; never cache
  reads) must be available;
- output tokens, by accounting mode: `legacy` reserves `max_tokens` at admission (so it
  must be available) and refunds the unused part at the end; `actual` charges output as
  it is generated, and admits only while the bucket holds at least one token.

A rejection names the limit and the whole seconds until the request would fit
(`retry-after`): at least 1, and exact for the bucket state at that moment, so a retry
after that long succeeds when nothing else drained the bucket, and one before fails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from orchestrator.limits import AccountingMode, BucketKind, ModelLimits

__all__ = ["EPSILON", "LimitBuckets", "Shortfall", "TokenBucket"]

#: Float slack when comparing a level with an amount: refill sums are not exact.
EPSILON = 1e-6

#: In `actual` accounting a request is admitted while the output bucket holds this much.
ACTUAL_MODE_OUTPUT_FLOOR = 1


@dataclass(slots=True)
class TokenBucket:
    """A continuously refilling bucket; `level` is as of `updated`."""

    capacity: float
    rate: float
    level: float
    updated: float

    @classmethod
    def full(cls, capacity: float, rate: float, now: float) -> TokenBucket:
        """A bucket that starts full at `now`."""
        if capacity <= 0 or rate <= 0:
            raise ValueError(f"capacity and rate must be > 0, got {capacity} and {rate}")
        return cls(capacity=capacity, rate=rate, level=capacity, updated=now)

    def level_at(self, now: float) -> float:
        """The level at `now` (refill included; time never runs backwards here)."""
        if now <= self.updated:
            return self.level
        level = self.level + (now - self.updated) * self.rate
        return level if level < self.capacity else self.capacity

    def _sync(self, now: float) -> None:
        self.level = self.level_at(now)
        if now > self.updated:
            self.updated = now

    def covers(self, amount: float, now: float) -> bool:
        """Whether `amount` is available at `now`."""
        return self.level_at(now) + EPSILON >= amount

    def take(self, amount: float, now: float) -> None:
        """Remove `amount`; the level may go negative (debt)."""
        self._sync(now)
        self.level -= amount

    def give(self, amount: float, now: float) -> None:
        """Return `amount` (a refund), never above capacity."""
        self._sync(now)
        self.level = min(self.capacity, self.level + amount)

    def seconds_until(self, amount: float, now: float) -> float:
        """Seconds until `amount` is available (0 if it is); amounts above capacity wait
        until the bucket is full, the most it can ever hold."""
        target = min(amount, self.capacity)
        deficit = target - self.level_at(now)
        return deficit / self.rate if deficit > EPSILON else 0.0

    def retry_after(self, amount: float, now: float) -> int:
        """`seconds_until` as the API's integer `retry-after`: rounded up, at least 1."""
        return max(1, math.ceil(self.seconds_until(amount, now) - EPSILON / self.rate))

    def full_at(self, now: float) -> float:
        """The time at which the bucket is full again."""
        return now + max(0.0, self.capacity - self.level_at(now)) / self.rate


@dataclass(frozen=True, slots=True)
class Shortfall:
    """Why a request was not admitted: the limit it hit and when it would fit."""

    kind: BucketKind
    needed: float
    available: float
    retry_after: int
    limit: int


@dataclass(slots=True)
class LimitBuckets:
    """The requests, input-token and output-token buckets of one (API key, model class)."""

    limits: ModelLimits
    requests: TokenBucket
    input: TokenBucket
    output: TokenBucket

    @classmethod
    def new(cls, limits: ModelLimits, now: float) -> LimitBuckets:
        """Three full buckets for `limits`."""

        def bucket(kind: BucketKind) -> TokenBucket:
            return TokenBucket.full(limits.capacity(kind), limits.rate(kind), now)

        return cls(
            limits=limits,
            requests=bucket(BucketKind.REQUESTS),
            input=bucket(BucketKind.INPUT),
            output=bucket(BucketKind.OUTPUT),
        )

    def bucket(self, kind: BucketKind) -> TokenBucket:
        """One bucket by kind."""
        if kind is BucketKind.REQUESTS:
            return self.requests
        return self.input if kind is BucketKind.INPUT else self.output

    def admit(
        self,
        *,
        now: float,
        input_tokens: int,
        max_tokens: int,
        accounting: AccountingMode,
    ) -> Shortfall | None:
        """Admit one request (taking what it needs) or say why not (taking nothing).

        `input_tokens` is the ITPM-counted input. When several limits are short, the
        one that is short longest is reported, so its `retry-after` covers them all.
        """
        legacy = accounting == "legacy"
        output_need = max_tokens if legacy else ACTUAL_MODE_OUTPUT_FLOOR
        worst: Shortfall | None = None
        for kind, bucket, need in (
            (BucketKind.REQUESTS, self.requests, 1),
            (BucketKind.INPUT, self.input, input_tokens),
            (BucketKind.OUTPUT, self.output, output_need),
        ):
            if bucket.covers(need, now):
                continue
            wait = bucket.retry_after(need, now)
            if worst is None or wait > worst.retry_after:
                worst = Shortfall(
                    kind=kind,
                    needed=need,
                    available=bucket.level_at(now),
                    retry_after=wait,
                    limit=self.limits.limit(kind),
                )
        if worst is not None:
            return worst
        self.requests.take(1, now)
        self.input.take(input_tokens, now)
        if legacy:
            self.output.take(max_tokens, now)
        return None
