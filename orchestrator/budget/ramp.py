"""Gradual admission after a pause or idle time, and the coordinated-backoff settings.

The API answers a sharp jump in traffic with 429 `ramp_limit_exceeded` even below the
per-minute limits (no numbers are published). A full bucket after a pause or a quiet spell
would otherwise be spent in one burst. While a ramp runs, each bucket has an *allowance*
next to its level: it starts at `fraction * capacity` and grows by
`(1 - fraction) * capacity / duration + rate` per second, minus what was granted since the
ramp began. A lease must fit both the level and the allowance. After `duration` seconds
the allowance can no longer bind (it has released a whole bucket plus the refill), so the
ramp ends. A drained bucket is not slowed further: its level binds before the allowance.

For bucket-bound runs a ramp costs nothing overall (by the ramp's end the cumulative
allowance equals what a full bucket plus refill would have given); only the first
requests of a burst are spread over `duration` seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["BackoffConfig", "Ramp", "RampConfig"]


@dataclass(frozen=True, kw_only=True, slots=True)
class RampConfig:
    """How admission ramps up after a 429 pause, an acceleration limit, idle time or start.

    `start_fraction` of a bucket may be granted at once, the rest is released linearly over
    `duration` seconds. Acceleration-limit 429s ramp from the lower
    `acceleration_fraction` over `acceleration_duration`. A class that admitted nothing for
    `idle_after` seconds (None: never) with nothing in flight ramps again; `on_start` ramps
    the very first admissions. `RampConfig.off()` disables ramping.

    At start, with `start_exact_free` (the default), the ramp leaves alone the buckets
    whose charge is exact: requests, and output in legacy mode (the server reserves
    exactly the `max_tokens` sent). It limits the buckets charged with estimates, input
    tokens and actual-mode output: until the first answers calibrate them they are
    guesses, and a whole bucket of under-estimated calls at once is a 429 storm (the
    input ramp spreads the requests too, since each carries some input). Ramping the exact
    buckets as well only delays a fan-out whose calls all fit (legacy W4 1.04 -> 1.02 of
    its lower bound, W6 32.1 -> 30.2 s). Ramps after a pause or idle time limit every bucket.
    """

    start_fraction: float = 0.25
    duration: float = 10.0
    acceleration_fraction: float = 0.05
    acceleration_duration: float = 30.0
    idle_after: float | None = 60.0
    on_start: bool = True
    start_exact_free: bool = True

    def __post_init__(self) -> None:
        for name in ("start_fraction", "acceleration_fraction"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"RampConfig.{name} must be in (0, 1], got {value}")
        for name in ("duration", "acceleration_duration"):
            value = getattr(self, name)
            if value < 0:
                raise ValueError(f"RampConfig.{name} must be >= 0 seconds, got {value}")
        if self.idle_after is not None and self.idle_after <= 0:
            raise ValueError(
                f"RampConfig.idle_after must be > 0 seconds, got {self.idle_after}. "
                "Use None to never ramp after idle time."
            )

    @classmethod
    def off(cls) -> RampConfig:
        """No ramping at all (for tests and for keys nobody else shares)."""
        return cls(
            start_fraction=1.0,
            duration=0.0,
            acceleration_fraction=1.0,
            acceleration_duration=0.0,
            idle_after=None,
            on_start=False,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class BackoffConfig:
    """How long admission pauses after server errors when the server gives no `retry-after`.

    `default_pause`: a 429 without `retry-after` and without a known short bucket.
    `overloaded_pause`: a 529 pauses the model class this long (or its `retry-after`, if
    shorter than `max_overloaded_pause`); 0 (the default) leaves 529s to the caller's
    per-call retry, because overload is the server's state, not our rate.
    """

    default_pause: float = 2.0
    overloaded_pause: float = 0.0
    max_overloaded_pause: float = 10.0

    def __post_init__(self) -> None:
        for name in ("default_pause", "overloaded_pause", "max_overloaded_pause"):
            value = getattr(self, name)
            if value < 0:
                raise ValueError(f"BackoffConfig.{name} must be >= 0 seconds, got {value}")


class Ramp:
    """The ramp state of one model class: an allowance per bucket while it runs."""

    __slots__ = ("_end", "_fraction", "_granted", "_limits", "_start")

    def __init__(self) -> None:
        self._start = -math.inf
        self._end = -math.inf
        self._fraction = 1.0
        self._granted = [0.0, 0.0, 0.0]
        self._limits = (True, True, True)

    def begin(
        self,
        at: float,
        *,
        fraction: float,
        duration: float,
        buckets: tuple[bool, bool, bool] = (True, True, True),
    ) -> None:
        """Start (or restart) a ramp at time `at` (may be in the future, e.g. a pause's end)
        on the buckets flagged in `buckets` (requests, input, output)."""
        if duration <= 0 or fraction >= 1.0:
            self._end = -math.inf
            return
        self._start = at
        self._end = at + duration
        self._fraction = fraction
        self._granted = [0.0, 0.0, 0.0]
        self._limits = buckets

    def active(self, now: float) -> bool:
        """Whether the ramp still limits admissions at `now`."""
        return now < self._end

    @property
    def start(self) -> float:
        """When the current (or last) ramp began (-inf when none ran)."""
        return self._start

    @property
    def end(self) -> float:
        """When the ramp stops limiting (-inf when none ran)."""
        return self._end

    @property
    def fraction(self) -> float:
        """The share of a bucket the ramp allowed at its start (1.0 when none ran)."""
        return self._fraction

    @property
    def duration(self) -> float:
        """The ramp's length in seconds (0 when none ran)."""
        return max(0.0, self._end - self._start) if self._end > -math.inf else 0.0

    def _slope(self, capacity: float, rate: float) -> float:
        return (1.0 - self._fraction) * capacity / (self._end - self._start) + rate

    def allowance(self, index: int, capacity: float, rate: float, now: float) -> float:
        """What bucket `index` may still grant at `now` under the ramp (inf when inactive)."""
        if now >= self._end or not self._limits[index]:
            return math.inf
        elapsed = max(0.0, now - self._start)
        base = self._fraction * capacity + self._slope(capacity, rate) * elapsed
        return base - self._granted[index]

    def time_until(
        self, index: int, amount: float, capacity: float, rate: float, now: float
    ) -> float:
        """Seconds until the allowance of bucket `index` covers `amount` (0 if it does now)."""
        if now >= self._end or not self._limits[index]:
            return 0.0
        missing = amount - self.allowance(index, capacity, rate, now)
        if missing <= 0:
            return 0.0
        # Before the ramp starts (a pause still running) the allowance is flat.
        wait = max(0.0, self._start - now) + missing / self._slope(capacity, rate)
        return min(wait, self._end - now)

    def on_grant(self, amounts: tuple[float, float, float], now: float) -> None:
        """Count a grant against the allowances."""
        if now < self._end:
            granted = self._granted
            granted[0] += amounts[0]
            granted[1] += amounts[1]
            granted[2] += amounts[2]

    def on_revoke(self, amounts: tuple[float, float, float], now: float) -> None:
        """Give back a grant that was never used (its waiter was cancelled)."""
        if now < self._end:
            # Clamped: the grant may predate a restart of the ramp.
            granted = self._granted
            granted[0] = max(0.0, granted[0] - amounts[0])
            granted[1] = max(0.0, granted[1] - amounts[1])
            granted[2] = max(0.0, granted[2] - amounts[2])
