"""The twelve `anthropic-ratelimit-*` headers, from the buckets' state at one instant.

- `requests-*`, `input-tokens-*`, `output-tokens-*`: each bucket's per-minute limit,
  what it holds now (requests: whole requests, rounded down; tokens: rounded to the
  nearest thousand, as the API does; never below 0) and the RFC 3339 UTC second at which
  it is full again (rounded up).
- `tokens-*`: the combined reading the API gives without workspace limits: limits,
  remaining and the later reset of the input and output buckets added up.

Reset times are wall-clock: the emulator's wall epoch plus clock time elapsed.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from orchestrator.emulator.buckets import LimitBuckets

__all__ = ["RateLimitHeaders", "round_thousand"]


def round_thousand(value: float) -> int:
    """Round a token count to the nearest thousand (halves up), never below 0."""
    if value <= 0:
        return 0
    return math.floor(value / 1000.0 + 0.5) * 1000


class RateLimitHeaders:
    """Formats rate-limit headers; `wall(t)` maps clock time to a Unix timestamp."""

    def __init__(self, wall_epoch: float, clock_origin: float) -> None:
        self._offset = wall_epoch - clock_origin
        self._formatted: dict[int, bytes] = {}

    def wall(self, clock_time: float) -> float:
        """Unix time of clock time `clock_time`."""
        return clock_time + self._offset

    def rfc3339(self, clock_time: float) -> bytes:
        """`YYYY-MM-DDTHH:MM:SSZ` of clock time `clock_time`, rounded up to the second."""
        second = math.ceil(self.wall(clock_time) - 1e-9)
        text = self._formatted.get(second)
        if text is None:
            if len(self._formatted) > 4096:
                self._formatted.clear()
            stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            text = stamp.encode()
            self._formatted[second] = text
        return text

    def headers(self, buckets: LimitBuckets, now: float) -> list[tuple[bytes, bytes]]:
        """The twelve headers for `buckets` at `now`."""
        limits = buckets.limits
        req, inp, outp = buckets.requests, buckets.input, buckets.output
        req_level, in_level, out_level = req.level_at(now), inp.level_at(now), outp.level_at(now)
        in_full = now + max(0.0, inp.capacity - in_level) / inp.rate
        out_full = now + max(0.0, outp.capacity - out_level) / outp.rate
        rfc = self.rfc3339
        return [
            (b"anthropic-ratelimit-requests-limit", b"%d" % limits.rpm),
            (
                b"anthropic-ratelimit-requests-remaining",
                b"%d" % max(0, math.floor(req_level + 1e-9)),
            ),
            (b"anthropic-ratelimit-requests-reset", rfc(req.full_at(now))),
            (b"anthropic-ratelimit-tokens-limit", b"%d" % (limits.itpm + limits.otpm)),
            (
                b"anthropic-ratelimit-tokens-remaining",
                b"%d" % round_thousand(max(0.0, in_level) + max(0.0, out_level)),
            ),
            (b"anthropic-ratelimit-tokens-reset", rfc(max(in_full, out_full))),
            (b"anthropic-ratelimit-input-tokens-limit", b"%d" % limits.itpm),
            (b"anthropic-ratelimit-input-tokens-remaining", b"%d" % round_thousand(in_level)),
            (b"anthropic-ratelimit-input-tokens-reset", rfc(in_full)),
            (b"anthropic-ratelimit-output-tokens-limit", b"%d" % limits.otpm),
            (b"anthropic-ratelimit-output-tokens-remaining", b"%d" % round_thousand(out_level)),
            (b"anthropic-ratelimit-output-tokens-reset", rfc(out_full)),
        ]
