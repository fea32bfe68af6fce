"""Retry policy: which failed calls are retried, how often, and after how long.

429s are not delayed here: the budget's coordinated backoff pauses every worker until
`retry-after` has passed, so a retried call simply waits for its next lease. Other
provider-class failures (529, 5xx, timeouts, resets, mid-stream errors) back off
exponentially with seeded jitter, so runs stay deterministic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from agents.errors import ErrorKind, LLMError

__all__ = ["RetryPolicy"]

_BUDGET_PACED = frozenset({ErrorKind.RATE_LIMITED, ErrorKind.ACCELERATION})


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """Attempts per call and backoff for provider-class failures.

    `max_attempts` counts the first attempt: 6 means up to five retries.
    """

    max_attempts: int = 8
    base_delay: float = 1.0
    max_delay: float = 30.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError(
                f"need 0 <= base_delay <= max_delay, got {self.base_delay} and {self.max_delay}"
            )
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be within [0, 1], got {self.jitter}")

    def should_retry(self, error: LLMError, attempt: int) -> bool:
        """Whether attempt number `attempt` (1-based) that failed with `error` is retried."""
        return error.retryable and attempt < self.max_attempts

    def delay(self, error: LLMError, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before the next attempt (0 for 429s: the budget paces those)."""
        if error.kind in _BUDGET_PACED:
            return 0.0
        if error.retry_after is not None:
            return error.retry_after
        raw = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return raw * (1 - self.jitter + 2 * self.jitter * rng.random())
