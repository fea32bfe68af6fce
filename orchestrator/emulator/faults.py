"""Seeded fault injection: which failure, if any, one Messages request meets.

One uniform draw per Messages request (always, so the sequence of decisions depends
only on the seed and the order of requests) is mapped onto the configured
probabilities. Faults hit after the request is validated and before it is admitted (no
bucket is charged), except `midstream_error`, which hits an admitted stream halfway and
applies to streaming requests only (a non-streaming request drawing it runs normally).

What each fault looks like to a client:

- `rate_limit_429`: 429 `rate_limit_error` with `retry-after` (`faults.retry_after_s`);
- `overloaded_529`: 529 `overloaded_error` (with `retry-after` if configured);
- `server_500`: 500 `api_error`;
- `connection_reset`: the connection drops (the SDK raises `APIConnectionError`);
- `timeout`: the server hangs for `faults.timeout_s` on the clock; a client whose timeout
  is shorter gives up (`APITimeoutError`), one that waits gets a 504 `timeout_error`;
- `midstream_error`: an SSE `error` event (`overloaded_error`) inside a 200 stream;
- `acceleration_429`: 429 with `details.error_code = "ramp_limit_exceeded"`.
"""

from __future__ import annotations

import random
from enum import StrEnum

from orchestrator.emulator.config import FAULT_FIELDS, FaultConfig

__all__ = ["FaultInjector", "FaultKind"]


class FaultKind(StrEnum):
    """The injectable faults (values are the `faults` option names)."""

    RATE_LIMIT = "rate_limit_429"
    OVERLOADED = "overloaded_529"
    SERVER_ERROR = "server_500"
    CONNECTION_RESET = "connection_reset"
    TIMEOUT = "timeout"
    MIDSTREAM_ERROR = "midstream_error"
    ACCELERATION = "acceleration_429"


class FaultInjector:
    """Draws the fault of each request from a generator seeded once."""

    _SALT = 0x5F4A_17

    def __init__(self, config: FaultConfig, seed: int) -> None:
        self._rng = random.Random(seed ^ self._SALT)
        self._table: list[tuple[float, FaultKind]] = []
        cumulative = 0.0
        for name in FAULT_FIELDS:
            probability = float(getattr(config, name))
            if probability > 0:
                cumulative += probability
                self._table.append((cumulative, FaultKind(name)))
        self.enabled = bool(self._table)

    def draw(self, *, stream: bool) -> FaultKind | None:
        """The fault for the next request, or None."""
        if not self.enabled:
            return None
        u = self._rng.random()
        for threshold, kind in self._table:
            if u < threshold:
                if kind is FaultKind.MIDSTREAM_ERROR and not stream:
                    return None
                return kind
        return None
