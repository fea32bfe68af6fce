"""API error responses: the exception the handlers raise and the JSON body it becomes.

Body shape, as the API sends it:
`{"type":"error","error":{"type":T,"message":M[,"details":{"error_code":C}]},"request_id":R}`.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

__all__ = ["ERROR_TYPES", "ApiError", "error_body", "org_label", "rate_limit_message"]

#: The error `type` for each HTTP status.
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class ApiError(Exception):
    """Raised by a handler to answer with an API error.

    `retry_after` becomes the `retry-after` header; `stat` says how the stats count it
    (e.g. `rate_limit:output_tokens`, `acceleration`, `spend`).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_code: str | None = None,
        retry_after: int | None = None,
        stat: str | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type or ERROR_TYPES.get(status, "api_error")
        self.error_code = error_code
        self.retry_after = retry_after
        self.stat = stat

    def payload(self, request_id: str) -> dict[str, Any]:
        """The error body as a dict (also the data of an SSE `error` event)."""
        error: dict[str, Any] = {"type": self.error_type, "message": self.message}
        if self.error_code is not None:
            error["details"] = {"error_code": self.error_code}
        return {"type": "error", "error": error, "request_id": request_id}


def error_body(error: ApiError, request_id: str) -> bytes:
    """The JSON body of an error response."""
    return json.dumps(error.payload(request_id), separators=(",", ":")).encode()


_UNITS = {"requests": "requests", "input_tokens": "input tokens", "output_tokens": "output tokens"}


def rate_limit_message(organization: str, limit: int, kind: str) -> str:
    """The API's wording for a rate-limit 429, naming the limit and its size."""
    unit = _UNITS.get(kind, kind.replace("_", " "))
    return (
        f"This request would exceed the rate limit for your organization ({organization}) "
        f"of {limit:,} {unit} per minute. For details, refer to: "
        "https://docs.claude.com/en/api/rate-limits. You can see the response headers for "
        "current usage. Please reduce the prompt length or the maximum tokens requested, "
        "or try again later."
    )


@lru_cache(maxsize=1024)
def org_label(api_key: str) -> str:
    """A stable, non-secret name for the organisation behind an API key."""
    return "org-" + hashlib.blake2b(api_key.encode("utf-8"), digest_size=6).hexdigest()
