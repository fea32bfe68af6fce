"""A binary-heap `WaitQueue` with lazy deletion: O(log n) push/pop, O(1) amortised discard."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from policies.split import LeaseRequest

__all__ = ["HeapQueue", "SortKey"]

SortKey = Callable[[LeaseRequest], tuple[Any, ...]]


class HeapQueue:
    """Waiting leases ordered by `key(request)`, ties broken by arrival (`seq`).

    A discarded (cancelled) lease stays in the heap as a tombstone and is dropped when it
    reaches the top; when tombstones outnumber live entries the heap is rebuilt, so memory
    stays O(live) even under mass cancellation.
    """

    __slots__ = ("_dead", "_heap", "_key", "_waiting")

    def __init__(self, key: SortKey) -> None:
        self._key = key
        # Entries are (key, seq, request); seq is unique so requests are never compared.
        self._heap: list[tuple[tuple[Any, ...], int, LeaseRequest]] = []
        self._dead: set[int] = set()
        self._waiting: set[int] = set()

    def __len__(self) -> int:
        return len(self._waiting)

    def push(self, request: LeaseRequest) -> None:
        """Add a waiting lease (ValueError if its `seq` already waits)."""
        if request.seq in self._waiting:
            raise ValueError(f"lease {request.task_id!r} (seq {request.seq}) is already waiting")
        heapq.heappush(self._heap, (self._key(request), request.seq, request))
        self._waiting.add(request.seq)

    def _drop_dead_top(self) -> None:
        heap, dead = self._heap, self._dead
        while heap and heap[0][1] in dead:
            dead.discard(heapq.heappop(heap)[1])

    def peek(self) -> LeaseRequest | None:
        """The head, or None when empty."""
        if self._dead:
            self._drop_dead_top()
        return self._heap[0][2] if self._heap else None

    def pop(self) -> LeaseRequest:
        """Remove and return the head; IndexError when empty."""
        if self._dead:
            self._drop_dead_top()
        if not self._heap:
            raise IndexError("pop from an empty wait queue")
        _, seq, request = heapq.heappop(self._heap)
        self._waiting.discard(seq)
        return request

    def discard(self, request: LeaseRequest) -> bool:
        """Remove a waiting lease; False if it was not waiting."""
        if request.seq not in self._waiting:
            return False
        self._waiting.discard(request.seq)
        self._dead.add(request.seq)
        if len(self._dead) > max(64, len(self._waiting)):
            dead = self._dead
            self._heap = [entry for entry in self._heap if entry[1] not in dead]
            heapq.heapify(self._heap)
            dead.clear()
        return True
