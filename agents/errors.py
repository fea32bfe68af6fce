"""The error taxonomy the runner acts on: every failed call becomes one `LLMError`."""

from __future__ import annotations

from enum import StrEnum

from agents.ratelimit import RateLimitSnapshot

__all__ = ["ErrorKind", "LLMError"]


class ErrorKind(StrEnum):
    """What went wrong, in the terms the runner needs to decide what to do next."""

    RATE_LIMITED = "rate_limited"
    """429: a per-minute limit is exhausted. Retry after `retry_after`, coordinated."""
    ACCELERATION = "acceleration"
    """429 `ramp_limit_exceeded`: traffic grew too fast. Back off, then ramp up slowly."""
    SPEND_LIMIT = "spend_limit"
    """429 `enforced_spend_limit_reached`: the spend cap is hit. Retrying cannot help."""
    OVERLOADED = "overloaded"
    """529, or an SSE `error` event inside a 200 stream. Retry with backoff."""
    SERVER = "server"
    """500/502/503 and other 5xx. Retry with backoff."""
    TIMEOUT = "timeout"
    """The request timed out (client side or 504/408). Retry with backoff."""
    CONNECTION = "connection"
    """The connection failed or was reset. Retry with backoff."""
    INVALID_REQUEST = "invalid_request"
    """400/413/422: the request is wrong. Retrying the same request cannot help."""
    AUTH = "auth"
    """401/403: the key is missing, wrong or lacks permission."""
    NOT_FOUND = "not_found"
    """404: unknown model or endpoint."""
    SCRIPT_EXHAUSTED = "script_exhausted"
    """A `ScriptedLLM` was called more often than it was scripted for (a test bug)."""


_RETRYABLE = frozenset(
    {
        ErrorKind.RATE_LIMITED,
        ErrorKind.ACCELERATION,
        ErrorKind.OVERLOADED,
        ErrorKind.SERVER,
        ErrorKind.TIMEOUT,
        ErrorKind.CONNECTION,
    }
)


class LLMError(Exception):
    """A failed model call, classified.

    `limit` names the exhausted limit for `rate_limited` when the server said which
    (`requests`, `input_tokens`, `output_tokens`); `error_code` is the body's
    `error.details.error_code`.
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        request_id: str | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
        limit: str | None = None,
        error_code: str | None = None,
        ratelimit: RateLimitSnapshot | None = None,
        partial_output_tokens: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.request_id = request_id
        self.status_code = status_code
        self.retry_after = retry_after
        self.limit = limit
        self.error_code = error_code
        self.ratelimit = ratelimit
        self.partial_output_tokens = partial_output_tokens

    @property
    def retryable(self) -> bool:
        """Whether sending the same request again may succeed."""
        return self.kind in _RETRYABLE

    def __str__(self) -> str:
        parts = [f"{self.kind.value}: {self.message}"]
        if self.status_code is not None:
            parts.append(f"status={self.status_code}")
        if self.retry_after is not None:
            parts.append(f"retry_after={self.retry_after:g}s")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"LLMError({self.kind.value!r}, {self.message!r}, request_id={self.request_id!r})"
