"""`Lease`: one admitted (or waiting) call's reservation against a model class's buckets."""

from __future__ import annotations

from collections.abc import Awaitable
from enum import StrEnum
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from agents.errors import LLMError
from agents.ratelimit import RateLimitSnapshot
from agents.usage import Usage
from policies.split import LeaseRequest

if TYPE_CHECKING:
    import asyncio

__all__ = ["Lease", "LeaseContext", "LeaseOwner", "LeaseState"]


class LeaseState(StrEnum):
    """Where a lease is in its life."""

    WAITING = "waiting"
    """Queued; nothing reserved yet."""
    ACTIVE = "active"
    """Admitted: its reservation is taken from the buckets; the call may be sent."""
    SETTLED = "settled"
    """Settled with the real usage (refund or debt applied)."""
    RELEASED = "released"
    """Ended without usage (error, cancellation): nothing was refunded."""
    REVOKED = "revoked"
    """Cancelled before it was used: the whole reservation was given back."""
    FAILED = "failed"
    """Never admitted (spend limit, limits learned too small for it)."""


class LeaseOwner(Protocol):
    """What a `Lease` delegates to (the `Budget`)."""

    def _settle_lease(
        self, lease: Lease, usage: Usage, snapshot: RateLimitSnapshot | None
    ) -> None: ...

    def _release_lease(self, lease: Lease) -> None: ...

    def _observe_lease(self, lease: Lease, snapshot: RateLimitSnapshot) -> None: ...

    def _error_lease(self, lease: Lease, error: LLMError) -> None: ...

    def _progress_lease(self, lease: Lease, output_tokens: int) -> None: ...


class Lease:
    """The right to send one call: what was reserved, and the `max_tokens` to send.

    Settle it with the response's `usage` (`settle`); a lease left without settlement
    (the call failed, was cancelled or died) releases conservatively when its context
    exits: nothing is refunded, because the server may have counted it.
    """

    __slots__ = (
        "_owner",
        "_waiter",
        "admitted_at",
        "charged",
        "declared_max_tokens",
        "declared_output_tokens",
        "drawn",
        "generous",
        "max_tokens",
        "model",
        "model_class",
        "produced",
        "pulled_input",
        "request",
        "reserved",
        "scale",
        "sizing_epoch",
        "sizing_key",
        "state",
        "usage",
    )

    def __init__(
        self,
        *,
        request: LeaseRequest,
        model: str,
        model_class: str,
        max_tokens: int,
        reserved: tuple[float, float, float],
        owner: LeaseOwner | None = None,
    ) -> None:
        self.request = request
        self.model = model
        self.model_class = model_class
        self.max_tokens = max_tokens
        #: (requests, input tokens, output tokens) taken from the buckets at admission.
        self.reserved = reserved
        #: How far below full each bucket was right after this grant (for capacity learning).
        self.drawn: tuple[float, float, float] | None = None
        self.admitted_at: float | None = None
        #: False for probes sent while the class's limits were still unknown.
        self.charged = True
        #: The account's input pulled down by readings when this lease was granted.
        self.pulled_input = 0.0
        #: Output tokens produced so far, as reported through `progress`.
        self.produced = 0
        #: actual mode: the factor its output reservation was scaled by at admission
        #: (`ModelAccount.output_scale`: the class's calls produce more than reserved).
        self.scale = 1.0
        self.state = LeaseState.WAITING
        self.usage: Usage | None = None
        #: The caller's own `max_tokens` (before any cap): a resize never goes above it.
        self.declared_max_tokens = max_tokens
        #: The caller's own expected output: a resize never goes above it either.
        self.declared_output_tokens = request.output_tokens
        #: Leases sharing a key are re-sized together while they wait (`Budget.resize`).
        self.sizing_key: str | None = None
        self.sizing_epoch = 0
        #: The size the caller asked for, kept while a resize has made the lease leaner.
        self.generous: tuple[LeaseRequest, int, tuple[float, float, float]] | None = None
        self._owner = owner
        self._waiter: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return (
            f"Lease({self.task_id!r}, {self.model_class}, state={self.state.value}, "
            f"input={self.input_tokens}, output={self.output_tokens}, "
            f"max_tokens={self.max_tokens})"
        )

    @property
    def task_id(self) -> str:
        """The task this lease is for."""
        return self.request.task_id

    @property
    def input_tokens(self) -> int:
        """Input tokens reserved (the caller's estimate of ITPM-counted input)."""
        return self.request.input_tokens

    @property
    def output_tokens(self) -> int:
        """Expected output tokens (reserved in `actual` mode)."""
        return self.request.output_tokens

    @property
    def reserved_output(self) -> float:
        """Output tokens taken at admission: `max_tokens` (legacy) or the expected output."""
        return self.reserved[2]

    def _owned(self) -> LeaseOwner:
        if self._owner is None:
            raise RuntimeError(f"lease {self.task_id!r} is not attached to a Budget")
        return self._owner

    def settle(self, usage: Usage, snapshot: RateLimitSnapshot | None = None) -> None:
        """Settle with the real `usage`: refund what was unused, charge overshoot as debt.

        Pass the response's `snapshot` too (non-streaming calls): the budget resyncs after
        settling. Settling twice raises `LeaseStateError` and changes nothing.
        """
        self._owned()._settle_lease(self, usage, snapshot)

    def release(self) -> None:
        """End without usage: nothing is refunded (the server may have counted the call)."""
        self._owned()._release_lease(self)

    def observe(self, snapshot: RateLimitSnapshot) -> None:
        """Resync from this call's rate-limit headers (e.g. at a stream's start)."""
        self._owned()._observe_lease(self, snapshot)

    def report_error(self, error: LLMError) -> None:
        """Tell the budget this call failed with `error` (429s pause everyone)."""
        self._owned()._error_lease(self, error)

    def progress(self, output_tokens: int) -> None:
        """Report the cumulative output produced so far (from a stream's `message_delta`).

        Optional; in `actual` mode it makes resync less conservative, because output
        already produced is known to be counted in the server's `remaining`.
        """
        if self._owner is None:
            self.produced = max(self.produced, output_tokens)
        else:
            self._owner._progress_lease(self, output_tokens)


class _Acquirer(Protocol):
    def _acquire_lease(self, context: LeaseContext) -> Awaitable[Lease]: ...


class LeaseContext:
    """`async with budget.lease(...) as lease:` waits for admission, releases on exit."""

    __slots__ = ("_budget", "kwargs", "lease", "task_id")

    def __init__(self, budget: _Acquirer, task_id: str, kwargs: dict[str, Any]) -> None:
        self._budget = budget
        self.task_id = task_id
        self.kwargs = kwargs
        self.lease: Lease | None = None

    async def __aenter__(self) -> Lease:
        self.lease = await self._budget._acquire_lease(self)
        return self.lease

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        lease = self.lease
        if lease is not None and lease.state is LeaseState.ACTIVE:
            lease.release()
