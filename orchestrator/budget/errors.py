"""Errors raised by the throughput budget; each says what happened and what to do."""

from __future__ import annotations

from agents.errors import LLMError
from orchestrator.limits import BucketKind

__all__ = ["BudgetError", "LeaseStateError", "RequestTooLarge", "SpendLimitReached"]

_BUCKET_WORDS = {
    BucketKind.REQUESTS: ("requests", "request bucket", "RPM"),
    BucketKind.INPUT: ("input tokens", "input-token bucket", "ITPM"),
    BucketKind.OUTPUT: ("output tokens", "output-token bucket", "OTPM"),
}


class BudgetError(Exception):
    """Base class of the budget's own errors."""


class RequestTooLarge(BudgetError, ValueError):
    """A lease asks for more than a bucket can ever hold, so it could never be admitted."""

    def __init__(
        self,
        *,
        task_id: str,
        model: str,
        model_class: str,
        bucket: BucketKind,
        requested: float,
        capacity: float,
        limit: int,
    ) -> None:
        self.task_id = task_id
        self.model = model
        self.model_class = model_class
        self.bucket = bucket
        self.requested = requested
        self.capacity = capacity
        self.limit = limit
        unit, name, header = _BUCKET_WORDS[bucket]
        fix = {
            BucketKind.INPUT: "split the input or raise the limit",
            BucketKind.OUTPUT: "lower max_tokens / the expected output or raise the limit",
            BucketKind.REQUESTS: "raise the limit",
        }[bucket]
        super().__init__(
            f"task {task_id!r} needs {requested:,.0f} {unit} but the {name} of {model} "
            f"(model class {model_class}) holds at most {capacity:,.0f} "
            f"({header} {limit:,}); {fix}"
        )


class SpendLimitReached(BudgetError):
    """The organisation's monthly spend cap is reached: every lease fails, retrying cannot help."""

    def __init__(self, error: LLMError | None = None) -> None:
        self.error = error
        detail = f" (request_id={error.request_id})" if error and error.request_id else ""
        super().__init__(
            "the API reports that the organisation's spend limit is reached"
            f"{detail}; no call can succeed until the limit is raised in the Anthropic "
            "console or the month rolls over"
        )


class LeaseStateError(BudgetError):
    """A lease was used in a way its state forbids (e.g. settled twice)."""
