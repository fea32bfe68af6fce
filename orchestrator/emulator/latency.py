"""The latency model: time to first token, prefill per input token, output speed, jitter.

A request of `i` input tokens producing `o` output tokens takes
`(ttft + prefill * i) * f` until its first token and `o * f / tokens_per_second` more,
where `f` is the request's jitter factor, uniform in `[1 - jitter, 1 + jitter]` and drawn
from the seeded generator. All of it is waited on the emulator's clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DEFAULT_LATENCY", "LatencyModel", "Timing", "default_latency"]


@dataclass(frozen=True, slots=True)
class Timing:
    """One request's timing: delay to the first token, then seconds per output token."""

    first_token: float
    per_token: float

    def total(self, output_tokens: int) -> float:
        """Seconds from admission to the last token."""
        return self.first_token + self.per_token * output_tokens


@dataclass(frozen=True, kw_only=True, slots=True)
class LatencyModel:
    """Latency parameters of one model class."""

    ttft: float
    tokens_per_second: float
    prefill_per_token: float
    jitter: float

    def __post_init__(self) -> None:
        if self.ttft < 0 or self.prefill_per_token < 0:
            raise ValueError("ttft and prefill_per_token must be >= 0")
        if self.tokens_per_second <= 0:
            raise ValueError(
                f"tokens_per_second must be > 0 (inf for instant), got {self.tokens_per_second}"
            )
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter}")

    @classmethod
    def zero(cls) -> LatencyModel:
        """Instant answers (benchmarks of the emulator's own cost)."""
        return cls(ttft=0.0, tokens_per_second=math.inf, prefill_per_token=0.0, jitter=0.0)

    @property
    def instant(self) -> bool:
        """True when no request ever waits."""
        return self.ttft == 0 and self.prefill_per_token == 0 and math.isinf(self.tokens_per_second)

    def timing(self, input_tokens: int, u: float) -> Timing:
        """The timing of one request; `u` is a uniform draw in [0, 1)."""
        factor = 1.0 + self.jitter * (2.0 * u - 1.0)
        first = (self.ttft + self.prefill_per_token * input_tokens) * factor
        per_token = 0.0 if math.isinf(self.tokens_per_second) else factor / self.tokens_per_second
        return Timing(first_token=first, per_token=per_token)


#: Defaults per model family: Opus slowest, Haiku fastest. Not published; plausible.
DEFAULT_LATENCY: dict[str, LatencyModel] = {
    "opus": LatencyModel(ttft=1.2, tokens_per_second=30.0, prefill_per_token=4e-5, jitter=0.1),
    "sonnet": LatencyModel(ttft=0.6, tokens_per_second=60.0, prefill_per_token=2e-5, jitter=0.1),
    "haiku": LatencyModel(ttft=0.3, tokens_per_second=120.0, prefill_per_token=1e-5, jitter=0.1),
}


def default_latency(model_class: str) -> LatencyModel:
    """The default latency of a model class (by family: `opus-4` -> opus)."""
    family = model_class.split("-", 1)[0]
    return DEFAULT_LATENCY.get(family, DEFAULT_LATENCY["sonnet"])
