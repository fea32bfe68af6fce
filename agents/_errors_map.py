"""Classify SDK, HTTP and stream failures as `LLMError`s.

Pure functions over plain data (status code, error body, headers); the client shell calls
them with what it caught. Classification order: the body's `error.details.error_code`
(spend caps and ramp limits look like any other 429 otherwise), then the HTTP status, then
the body's `error.type` (the only thing an SSE `error` event inside a 200 carries).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import anthropic
import httpx2

from agents.errors import ErrorKind, LLMError
from agents.ratelimit import HeaderBucket, RateLimitSnapshot

__all__ = [
    "classify",
    "error_from_body",
    "error_from_exception",
    "error_from_stream_event",
    "parse_limit",
]

_SPEND_CODES = frozenset(
    {
        "enforced_spend_limit_reached",
        "contract_spend_limit_reached",
        "linked_organization_spend_limit_reached",
    }
)
_RAMP_CODES = frozenset({"ramp_limit_exceeded"})

_STATUS_KINDS: dict[int, ErrorKind] = {
    400: ErrorKind.INVALID_REQUEST,
    401: ErrorKind.AUTH,
    # 402 billing_error: an account problem no retry can fix, like a reached spend cap.
    402: ErrorKind.SPEND_LIMIT,
    403: ErrorKind.AUTH,
    404: ErrorKind.NOT_FOUND,
    408: ErrorKind.TIMEOUT,
    # 409 is transient on the Messages API (the SDK retries it too).
    409: ErrorKind.SERVER,
    413: ErrorKind.INVALID_REQUEST,
    422: ErrorKind.INVALID_REQUEST,
    429: ErrorKind.RATE_LIMITED,
    # 499: the request was cut off on the way, not rejected.
    499: ErrorKind.CONNECTION,
    504: ErrorKind.TIMEOUT,
    529: ErrorKind.OVERLOADED,
}

_TYPE_KINDS: dict[str, ErrorKind] = {
    "invalid_request_error": ErrorKind.INVALID_REQUEST,
    "request_too_large": ErrorKind.INVALID_REQUEST,
    "authentication_error": ErrorKind.AUTH,
    "permission_error": ErrorKind.AUTH,
    "billing_error": ErrorKind.SPEND_LIMIT,
    "not_found_error": ErrorKind.NOT_FOUND,
    "rate_limit_error": ErrorKind.RATE_LIMITED,
    "timeout_error": ErrorKind.TIMEOUT,
    "overloaded_error": ErrorKind.OVERLOADED,
    "api_error": ErrorKind.SERVER,
}

_ADVICE: dict[ErrorKind, str] = {
    ErrorKind.RATE_LIMITED: (
        "Wait until retry-after before sending again; if this repeats, lower concurrency "
        "or the configured limits"
    ),
    ErrorKind.ACCELERATION: "Traffic grew too fast: back off, then ramp up gradually",
    ErrorKind.SPEND_LIMIT: (
        "Retrying cannot help: raise the spend limit or fix billing in the Anthropic Console"
    ),
    ErrorKind.OVERLOADED: "The API is temporarily overloaded: retry with backoff",
    ErrorKind.SERVER: "Server-side failure: retry with backoff",
    ErrorKind.TIMEOUT: "Retry, raise the timeout, or stream long outputs",
    ErrorKind.CONNECTION: "Check the network and base_url, then retry with backoff",
    ErrorKind.INVALID_REQUEST: "Fix the request: sending it again unchanged cannot succeed",
    ErrorKind.AUTH: "Check the API key (ANTHROPIC_API_KEY) and its permissions",
    ErrorKind.NOT_FOUND: "Check the model name and base_url",
}

# "... of 90,000 output tokens per minute", "... of 50 requests per minute"
_LIMIT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\d[\d,_]*\s+output\s+tokens", re.IGNORECASE), "output_tokens"),
    (re.compile(r"\d[\d,_]*\s+input\s+tokens", re.IGNORECASE), "input_tokens"),
    (re.compile(r"\d[\d,_]*\s+requests", re.IGNORECASE), "requests"),
)
_LIMIT_BUCKETS: tuple[HeaderBucket, ...] = ("requests", "input_tokens", "output_tokens")


def classify(status: int | None, error_type: str | None, error_code: str | None) -> ErrorKind:
    """The `ErrorKind` for an HTTP status (None inside a stream), body type and error code."""
    if error_code in _SPEND_CODES:
        return ErrorKind.SPEND_LIMIT
    if error_code in _RAMP_CODES:
        return ErrorKind.ACCELERATION
    if status is not None and status >= 400:
        if status in _STATUS_KINDS:
            return _STATUS_KINDS[status]
        return ErrorKind.SERVER if status >= 500 else ErrorKind.INVALID_REQUEST
    return _TYPE_KINDS.get(error_type or "", ErrorKind.SERVER)


def parse_limit(message: str | None, snapshot: RateLimitSnapshot | None = None) -> str | None:
    """Which limit a 429 hit: `requests`, `input_tokens` or `output_tokens`, or None.

    The server's message names it ("... of 90,000 output tokens per minute"); failing
    that, the one bucket whose `-remaining` header reads 0 does.
    """
    for pattern, name in _LIMIT_PATTERNS:
        if message and pattern.search(message):
            return name
    if snapshot is None:
        return None
    empty = [b for b in _LIMIT_BUCKETS if snapshot.reading(b).remaining == 0]
    return empty[0] if len(empty) == 1 else None


def _error_object(body: object) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            return error
    return {}


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def error_from_body(
    status: int | None,
    body: object,
    headers: Mapping[str, str] | None = None,
    *,
    request_id: str | None = None,
    context: str | None = None,
    partial_output_tokens: int | None = None,
) -> LLMError:
    """An `LLMError` from an error response (status, parsed JSON body, headers).

    `status` is None for an SSE `error` event inside a 200 stream.
    """
    error = _error_object(body)
    error_type = _str_or_none(error.get("type"))
    details = error.get("details")
    error_code = _str_or_none(details.get("error_code")) if isinstance(details, Mapping) else None
    api_message = _str_or_none(error.get("message"))
    if api_message is None and isinstance(body, str) and body.strip():
        api_message = body.strip()[:300]
    snapshot = RateLimitSnapshot.from_headers(headers or {})
    if request_id is None:
        request_id = snapshot.request_id
    if request_id is None and isinstance(body, Mapping):
        request_id = _str_or_none(body.get("request_id"))

    kind = classify(status, error_type, error_code)
    limit = parse_limit(api_message, snapshot) if kind is ErrorKind.RATE_LIMITED else None
    # A spend cap lifts at the next billing period, not after any retry-after.
    retry_after = None if kind is ErrorKind.SPEND_LIMIT else snapshot.retry_after

    what = f"HTTP {status}" if status is not None else "error event inside a 200 stream"
    labels = "/".join(x for x in (error_type, error_code) if x)
    headline = f"{context}: {what}" if context else what
    if labels:
        headline += f" ({labels})"
    if limit:
        headline += f", limit {limit}"
    advice = _ADVICE[kind]
    if kind is ErrorKind.RATE_LIMITED and retry_after is not None:
        advice = advice.replace("retry-after", f"retry-after ({retry_after:g}s)")
    detail = (api_message or "no message").rstrip(". ")
    message = f"{headline}: {detail}. {advice}."
    return LLMError(
        kind,
        message,
        request_id=request_id,
        status_code=status,
        retry_after=retry_after,
        limit=limit,
        error_code=error_code,
        ratelimit=snapshot,
        partial_output_tokens=partial_output_tokens,
    )


def error_from_stream_event(
    event: Mapping[str, Any],
    headers: Mapping[str, str] | None,
    *,
    partial_output_tokens: int,
    context: str | None = None,
) -> LLMError:
    """An `LLMError` from an SSE `error` event that arrived inside a 200 response."""
    return error_from_body(
        None,
        event,
        headers,
        context=context,
        partial_output_tokens=partial_output_tokens,
    )


def _request_url(exc: BaseException) -> str | None:
    try:
        request = getattr(exc, "request", None)
    except RuntimeError:  # an httpx2 error raised outside any request
        return None
    url = getattr(request, "url", None)
    return str(url) if url is not None else None


def _transport_message(exc: BaseException) -> str:
    detail = (str(exc) or type(exc).__name__).rstrip(". ")
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause) not in detail:
        detail += f" ({type(cause).__name__}: {cause})"
    if url := _request_url(exc):
        detail += f" on POST {url}"
    return detail


def error_from_exception(
    exc: anthropic.APIError | httpx2.HTTPError,
    *,
    context: str | None = None,
    headers: Mapping[str, str] | None = None,
    partial_output_tokens: int | None = None,
) -> LLMError:
    """An `LLMError` for an SDK exception, or an httpx2 one raised while reading a body.

    `headers` are those of a response already received (a stream that broke mid-way), so
    that the error still carries its `request_id` and rate-limit snapshot.
    """
    if isinstance(exc, anthropic.APIStatusError):
        return error_from_body(
            exc.status_code,
            exc.body,
            exc.response.headers,
            request_id=exc.request_id,
            context=context,
            partial_output_tokens=partial_output_tokens,
        )
    if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
        kind = ErrorKind.TIMEOUT
        what = "request timed out"
    elif isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError):
        kind = ErrorKind.CONNECTION
        what = "connection failed"
    else:
        # A 2xx body the SDK could not read, or another SDK failure after a response.
        kind = ErrorKind.SERVER
        what = "unusable response"
    snapshot = RateLimitSnapshot.from_headers(headers) if headers is not None else None
    headline = f"{context}: {what}" if context else what
    return LLMError(
        kind,
        f"{headline}: {_transport_message(exc)}. {_ADVICE[kind]}.",
        request_id=snapshot.request_id if snapshot else None,
        ratelimit=snapshot,
        partial_output_tokens=partial_output_tokens,
    )
