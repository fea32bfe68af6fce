"""Counters of what the emulator saw and answered (served at `GET /_emulator/stats`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EmulatorStats"]


@dataclass(slots=True)
class EmulatorStats:
    """Mutable counters; `snapshot()` is the JSON-ready view.

    `rejections` counts 429s by cause: `rate_limit:<bucket>` (requests, input_tokens,
    output_tokens, count_tokens), `acceleration`, `spend`, `injected`.
    """

    requests: int = 0
    count_tokens_requests: int = 0
    responses: Counter[int] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    midstream_errors: int = 0
    exhaustion_errors: int = 0
    running: int = 0
    peak_concurrency: int = 0
    spend_usd: float = 0.0

    def enter(self) -> None:
        """An admitted request starts generating."""
        self.running += 1
        if self.running > self.peak_concurrency:
            self.peak_concurrency = self.running

    def leave(self) -> None:
        """An admitted request ended (finished, failed or cancelled)."""
        self.running -= 1

    def snapshot(self) -> dict[str, Any]:
        """All counters as plain JSON data."""
        rate_limit = {
            key.split(":", 1)[1]: n
            for key, n in self.rejections.items()
            if key.startswith("rate_limit:")
        }
        return {
            "requests": self.requests,
            "count_tokens_requests": self.count_tokens_requests,
            "responses": {str(status): n for status, n in sorted(self.responses.items())},
            "rate_limited": {
                "total": sum(self.rejections.values()),
                "rate_limit": dict(sorted(rate_limit.items())),
                "acceleration": self.rejections["acceleration"],
                "spend": self.rejections["spend"],
                "injected": self.rejections["injected"],
            },
            "overloaded": self.responses[529],
            "faults": dict(sorted(self.faults.items())),
            "tokens": {
                "input": self.input_tokens,
                "itpm_counted": self.input_tokens + self.cache_write_tokens,
                "cache_read": self.cache_read_tokens,
                "cache_write": self.cache_write_tokens,
                "output": self.output_tokens,
            },
            "cache": {"hits": self.cache_hits, "misses": self.cache_misses},
            "midstream_errors": self.midstream_errors,
            "exhaustion_errors": self.exhaustion_errors,
            "running": self.running,
            "peak_concurrency": self.peak_concurrency,
            "spend_usd": round(self.spend_usd, 6),
        }
