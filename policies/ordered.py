"""Split policies that order waiting leases by a static sort key: FIFO, priority, critical path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from orchestrator.graph import LatencyModel
from policies._heap import HeapQueue
from policies.split import LeaseRequest, WaitQueue, cap_max_tokens

__all__ = ["CriticalPathPolicy", "FifoPolicy", "OrderedPolicy", "PriorityPolicy"]


def _check_share(max_share: float) -> None:
    if not 0.0 < max_share <= 1.0:
        raise ValueError(
            f"max_share must be in (0, 1], got {max_share}. "
            "Use 1.0 to let one lease reserve the whole output bucket."
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderedPolicy:
    """Base of key-ordered policies: smaller `sort_key` is admitted first, ties in arrival order.

    `max_share` caps a lease's `max_tokens` at that fraction of the output bucket's capacity
    (never below the lease's expected output). Subclasses override `sort_key`.
    """

    name: ClassVar[str] = "ordered"
    max_share: float = 0.5

    def __post_init__(self) -> None:
        _check_share(self.max_share)

    def sort_key(self, request: LeaseRequest) -> tuple[Any, ...]:
        """The ordering key (arrival order breaks ties)."""
        return ()

    def new_queue(self) -> WaitQueue:
        """A heap ordered by `sort_key`."""
        return HeapQueue(self.sort_key)

    def cap_max_tokens(
        self, max_tokens: int, *, expected_output: int, output_capacity: float
    ) -> int:
        """At most `max_share` of the output bucket, never below the expected output."""
        return cap_max_tokens(
            max_tokens,
            expected_output=expected_output,
            output_capacity=output_capacity,
            max_share=self.max_share,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class FifoPolicy(OrderedPolicy):
    """Arrival order. Use it when all work is equally urgent and predictability matters most."""

    name: ClassVar[str] = "fifo"


@dataclass(frozen=True, kw_only=True, slots=True)
class PriorityPolicy(OrderedPolicy):
    """Higher `priority` first, FIFO within a priority.

    Use it when some work must overtake other work (interactive before batch). `aging`
    (seconds per priority level) prevents starvation: a lease that has waited `aging`
    seconds ranks like a newly arrived lease one level higher; None makes priorities strict.
    """

    name: ClassVar[str] = "priority"
    aging: float | None = 120.0

    def __post_init__(self) -> None:
        _check_share(self.max_share)
        if self.aging is not None and self.aging <= 0:
            raise ValueError(
                f"PriorityPolicy.aging must be > 0 seconds per level, got {self.aging}. "
                "Use None for strict priorities."
            )

    def sort_key(self, request: LeaseRequest) -> tuple[Any, ...]:
        """Strict: (-priority,). With aging: a virtual arrival time earlier by priority*aging."""
        if self.aging is None:
            return (-request.priority,)
        # Static key (arrival - priority * aging) keeps the heap valid while ranks age.
        return (request.arrival - request.priority * self.aging,)


@dataclass(frozen=True, kw_only=True, slots=True)
class CriticalPathPolicy(OrderedPolicy):
    """Longest remaining path first, the task itself included: the largest
    `tail + expected output / output_tokens_per_s` wins.

    The default. Use it for DAGs: admitting the heads of long chains first keeps the
    critical path moving while short branches fill the remaining capacity, which is what
    minimises makespan. The lease's own duration is estimated from its expected output
    (decoding dominates a call's time; `output_tokens_per_s` defaults to
    `orchestrator.graph.LatencyModel`'s), so among the leaves of a fan-out with declared
    sizes the calls expected to run longest go first and the shortest fill the end, as
    the lower bound's schedule does. Prompt size is left out on purpose: ordering by it
    sends the largest prompts first, and while another client drains the same key between
    two rate-limit readings a large prompt is the one that overdraws. An explicit
    `priority` ranks above the path (default 0 for all).
    """

    name: ClassVar[str] = "critical_path"
    output_tokens_per_s: float = LatencyModel().output_tokens_per_s

    def __post_init__(self) -> None:
        _check_share(self.max_share)
        if not self.output_tokens_per_s > 0:
            raise ValueError(
                "CriticalPathPolicy.output_tokens_per_s must be > 0, "
                f"got {self.output_tokens_per_s}"
            )

    def sort_key(self, request: LeaseRequest) -> tuple[Any, ...]:
        """(-priority, -(tail + expected output / output_tokens_per_s))."""
        return (
            -request.priority,
            -(request.tail + request.output_tokens / self.output_tokens_per_s),
        )
