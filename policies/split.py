"""Split policies: which waiting lease gets capacity next, and how much `max_tokens` it may hold.

The budget asks a `SplitPolicy` for a fresh `WaitQueue` per model class and keeps its waiting
leases there; the queue's head is admitted as soon as every bucket can cover it. A policy
also caps each lease's `max_tokens`, so that (in legacy accounting, where `max_tokens` is
reserved at admission) one worker cannot hold the whole output bucket and block the rest.

Policies see only `LeaseRequest`, a small frozen view of a lease; they know nothing of
buckets, clocks or asyncio, and are tested with plain values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["LeaseRequest", "SplitPolicy", "WaitQueue", "cap_max_tokens"]


@dataclass(frozen=True, kw_only=True, slots=True)
class LeaseRequest:
    """What a split policy sees of one waiting lease.

    `seq` is the budget-wide arrival number (unique, increasing); `arrival` the clock time
    of arrival. `tail` is the caller's estimate, in seconds, of the longest remaining path
    of the DAG after this task. `share` is the lease's dominant share of its model class's
    buckets (the largest of request/input/output over capacity), used for fair sharing.
    """

    task_id: str
    seq: int
    arrival: float = 0.0
    model_class: str = ""
    priority: int = 0
    tail: float = 0.0
    group: str | None = None
    weight: float = 1.0
    input_tokens: int = 0
    output_tokens: int = 0
    max_tokens: int = 0
    share: float = 0.0


@runtime_checkable
class WaitQueue(Protocol):
    """The waiting leases of one model class, in the order a policy wants them admitted."""

    def push(self, request: LeaseRequest) -> None:
        """Add a waiting lease."""
        ...

    def peek(self) -> LeaseRequest | None:
        """The lease to admit next, or None when empty."""
        ...

    def pop(self) -> LeaseRequest:
        """Remove and return the head (it is being admitted); IndexError when empty."""
        ...

    def discard(self, request: LeaseRequest) -> bool:
        """Remove a waiting lease that gave up (cancelled); False if it was not waiting."""
        ...

    def __len__(self) -> int:
        """How many leases wait."""
        ...


@runtime_checkable
class SplitPolicy(Protocol):
    """Orders waiting leases and caps their `max_tokens`."""

    @property
    def name(self) -> str:
        """The policy's registry name ("fifo", "fair", ...)."""
        ...

    def new_queue(self) -> WaitQueue:
        """A fresh, empty queue ordered by this policy."""
        ...

    def cap_max_tokens(
        self, max_tokens: int, *, expected_output: int, output_capacity: float
    ) -> int:
        """The `max_tokens` a lease may send, given the output bucket's capacity."""
        ...


def cap_max_tokens(
    max_tokens: int, *, expected_output: int, output_capacity: float, max_share: float
) -> int:
    """`max_tokens` capped at `max_share` of the output bucket, never below the expected output.

    ```python
    cap_max_tokens(8192, expected_output=600, output_capacity=8000, max_share=0.5)  # 4000
    ```
    """
    if math.isinf(output_capacity):
        return max_tokens
    ceiling = max(int(max_share * output_capacity), expected_output, 1)
    return max(1, min(max_tokens, ceiling))
