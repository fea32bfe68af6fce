"""Weighted max-min fair sharing of a model class's capacity across groups (branches, tenants)."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import ClassVar

from policies._heap import HeapQueue
from policies.ordered import FifoPolicy, OrderedPolicy, _check_share
from policies.split import LeaseRequest, WaitQueue, cap_max_tokens

__all__ = ["FairPolicy", "FairQueue"]


class _Group:
    __slots__ = ("key", "queue", "usage", "version")

    def __init__(self, key: str, queue: HeapQueue) -> None:
        self.key = key
        self.queue = queue
        self.usage = 0.0
        self.version = 0


class FairQueue:
    """Groups served by least weighted usage first; each group's own leases in `within` order.

    A group's usage grows by `share / weight` of each lease it is granted (`share` is the
    lease's dominant share of the buckets). A group that becomes active after a quiet spell
    starts at the usage of the least-served active group, so it cannot claim back the past
    (as in start-time fair queuing). O(log groups + log n) per operation.
    """

    __slots__ = ("_floor", "_groups", "_heap", "_size", "_within")

    def __init__(self, within: OrderedPolicy) -> None:
        self._within = within
        self._groups: dict[str, _Group] = {}
        # Entries (usage, head seq, version, group key); stale versions are skipped.
        self._heap: list[tuple[float, int, int, str]] = []
        self._floor = 0.0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def _group_of(self, request: LeaseRequest) -> _Group:
        key = request.group if request.group is not None else ""
        group = self._groups.get(key)
        if group is None:
            group = _Group(key, HeapQueue(self._within.sort_key))
            self._groups[key] = group
        return group

    def _schedule(self, group: _Group) -> None:
        group.version += 1
        head = group.queue.peek()
        if head is not None:
            heapq.heappush(self._heap, (group.usage, head.seq, group.version, group.key))

    def push(self, request: LeaseRequest) -> None:
        """Add a waiting lease to its group."""
        group = self._group_of(request)
        was_idle = len(group.queue) == 0
        before = group.queue.peek()
        group.queue.push(request)
        self._size += 1
        if was_idle:
            group.usage = max(group.usage, self._floor)
        if was_idle or group.queue.peek() is not before:
            self._schedule(group)

    def _top(self) -> _Group | None:
        heap = self._heap
        while heap:
            _, _, version, key = heap[0]
            group = self._groups[key]
            if version == group.version and len(group.queue):
                return group
            heapq.heappop(heap)
        return None

    def peek(self) -> LeaseRequest | None:
        """The head of the least-served group, or None when empty."""
        group = self._top()
        return None if group is None else group.queue.peek()

    def pop(self) -> LeaseRequest:
        """Remove and return the head, charging its group `share / weight`."""
        group = self._top()
        if group is None:
            raise IndexError("pop from an empty wait queue")
        heapq.heappop(self._heap)
        request = group.queue.pop()
        self._size -= 1
        self._floor = max(self._floor, group.usage)
        group.usage += request.share / request.weight
        self._schedule(group)
        return request

    def discard(self, request: LeaseRequest) -> bool:
        """Remove a waiting lease; False if it was not waiting."""
        key = request.group if request.group is not None else ""
        group = self._groups.get(key)
        if group is None:
            return False
        before = group.queue.peek()
        if not group.queue.discard(request):
            return False
        self._size -= 1
        if group.queue.peek() is not before:
            self._schedule(group)
        return True

    def usage(self, group: str | None) -> float:
        """The weighted usage granted to `group` so far (0 for an unknown group)."""
        found = self._groups.get(group if group is not None else "")
        return 0.0 if found is None else found.usage


@dataclass(frozen=True, kw_only=True, slots=True)
class FairPolicy:
    """Weighted max-min fairness across `group`s: the group least served per weight goes next.

    Use it when several independent branches, users or tenants share one key and none may
    crowd out the others (e.g. several DAG runs on one budget). Within a group leases are
    ordered by `within` (FIFO by default). Usage is measured in dominant shares of the
    buckets, so a group of large-context calls is charged for what it really takes.
    """

    name: ClassVar[str] = "fair"
    max_share: float = 0.5
    within: OrderedPolicy = field(default_factory=FifoPolicy)

    def __post_init__(self) -> None:
        _check_share(self.max_share)

    def new_queue(self) -> WaitQueue:
        """A fresh `FairQueue`."""
        return FairQueue(self.within)

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
