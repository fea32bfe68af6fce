"""`RateLimitSnapshot`: what one response's headers say about the organisation's limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

__all__ = ["BUCKET_HEADERS", "BucketReading", "HeaderBucket", "RateLimitSnapshot"]

HeaderBucket = Literal["requests", "tokens", "input_tokens", "output_tokens"]

#: header infix for each bucket: anthropic-ratelimit-{infix}-{limit,remaining,reset}
BUCKET_HEADERS: dict[HeaderBucket, str] = {
    "requests": "requests",
    "tokens": "tokens",
    "input_tokens": "input-tokens",
    "output_tokens": "output-tokens",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class BucketReading:
    """One bucket's `-limit`, `-remaining` and `-reset` headers (any may be missing)."""

    limit: int | None = None
    remaining: int | None = None
    reset: datetime | None = None

    def reset_in(self, now: datetime) -> float | None:
        """Seconds from `now` (aware, UTC) until the server says the bucket is full."""
        if self.reset is None:
            return None
        return max(0.0, (self.reset - now).total_seconds())


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, kw_only=True, slots=True)
class RateLimitSnapshot:
    """The twelve `anthropic-ratelimit-*` headers, `retry-after` and `request-id`.

    Token `remaining` values are rounded to the thousand by the server; readers must allow
    for that (see `TOKEN_ROUNDING`).
    """

    TOKEN_ROUNDING = 1000

    requests: BucketReading = BucketReading()
    tokens: BucketReading = BucketReading()
    input_tokens: BucketReading = BucketReading()
    output_tokens: BucketReading = BucketReading()
    retry_after: float | None = None
    request_id: str | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitSnapshot:
        """Parse response headers (case-insensitive); missing or garbled values become None."""
        lower = {k.lower(): v for k, v in headers.items()}
        readings: dict[str, BucketReading] = {}
        for name, infix in BUCKET_HEADERS.items():
            prefix = f"anthropic-ratelimit-{infix}-"
            readings[name] = BucketReading(
                limit=_int(lower.get(prefix + "limit")),
                remaining=_int(lower.get(prefix + "remaining")),
                reset=_time(lower.get(prefix + "reset")),
            )
        retry_after = _float(lower.get("retry-after"))
        retry_after_ms = _float(lower.get("retry-after-ms"))
        if retry_after is None and retry_after_ms is not None:
            retry_after = retry_after_ms / 1000.0
        return cls(
            requests=readings["requests"],
            tokens=readings["tokens"],
            input_tokens=readings["input_tokens"],
            output_tokens=readings["output_tokens"],
            retry_after=retry_after,
            request_id=lower.get("request-id"),
        )

    def reading(self, bucket: HeaderBucket) -> BucketReading:
        """The reading for one bucket by name."""
        value: BucketReading = getattr(self, bucket)
        return value

    @property
    def empty(self) -> bool:
        """True when no rate-limit header was present (e.g. a proxy stripped them)."""
        return all(
            self.reading(b).limit is None and self.reading(b).remaining is None
            for b in BUCKET_HEADERS
        )
