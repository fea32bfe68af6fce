"""`ClassCapacity`: a model class's limits, its three buckets and their learned capacities."""

from __future__ import annotations

import math

from orchestrator.budget.bucket import TokenBucket
from orchestrator.budget.errors import RequestTooLarge
from orchestrator.budget.learning import CapacityLearner
from orchestrator.budget.lease import Lease
from orchestrator.limits import BucketKind, ModelLimits

__all__ = ["KINDS", "ClassCapacity"]

#: Bucket order used by every (requests, input, output) triple in the budget.
KINDS = (BucketKind.REQUESTS, BucketKind.INPUT, BucketKind.OUTPUT)


class ClassCapacity:
    """The capacity side of a model class: configured limits, buckets, learned bursts.

    `hard` holds the configured capacities (a lease above one can never run); each
    bucket's actual capacity may be lower once the server shows a smaller burst.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.limits: ModelLimits | None = None
        self.buckets: tuple[TokenBucket, TokenBucket, TokenBucket] | None = None
        self.learners: tuple[CapacityLearner, CapacityLearner, CapacityLearner] | None = None
        self.hard = (math.inf, math.inf, math.inf)
        #: Lower `-limit` header values seen once; a second equal reading applies them.
        self.limit_vote: tuple[int, int, int] | None = None
        #: Per bucket, the last `-remaining` reading: (time, the least the server then
        #: held, what we had granted in all by then, and by the reading before).
        self.last_reading: list[tuple[float, float, float, float] | None] = [None, None, None]

    def set_limits(self, limits: ModelLimits, now: float) -> None:
        """Install (or lower) the limits; levels never rise, learned capacities are kept."""
        self.limits = limits
        self.hard = (
            limits.capacity(BucketKind.REQUESTS),
            limits.capacity(BucketKind.INPUT),
            limits.capacity(BucketKind.OUTPUT),
        )
        if self.buckets is None or self.learners is None:
            self.buckets = (
                TokenBucket(self.hard[0], limits.rate(KINDS[0]), now=now),
                TokenBucket(self.hard[1], limits.rate(KINDS[1]), now=now),
                TokenBucket(self.hard[2], limits.rate(KINDS[2]), now=now),
            )
            self.learners = (
                CapacityLearner(self.hard[0]),
                CapacityLearner(self.hard[1]),
                CapacityLearner(self.hard[2]),
            )
            return
        for i, kind in enumerate(KINDS):
            self.learners[i].reconfigure(self.hard[i])
            self.buckets[i].resize(self.learners[i].estimate, now, rate=limits.rate(kind))

    def check(self, lease: Lease) -> None:
        """Raise `RequestTooLarge` if the lease exceeds a configured capacity."""
        reserved, hard = lease.reserved, self.hard
        if reserved[0] <= hard[0] and reserved[1] <= hard[1] and reserved[2] <= hard[2]:
            return  # the usual answer, without the loop below
        for i, kind in enumerate(KINDS):
            if lease.reserved[i] > self.hard[i]:
                assert self.limits is not None  # hard capacities are finite only with limits
                raise RequestTooLarge(
                    task_id=lease.task_id,
                    model=lease.model,
                    model_class=self.name,
                    bucket=kind,
                    requested=lease.reserved[i],
                    capacity=self.hard[i],
                    limit=self.limits.limit(kind),
                )

    def learn_upper(self, index: int, bound: float, now: float) -> None:
        """Evidence that bucket `index`'s true capacity is at most `bound`."""
        if self.learners is None or self.buckets is None:
            return
        new = self.learners[index].upper_bound(bound, now)
        if new is not None and new < self.buckets[index].capacity:
            self.buckets[index].resize(new, now)

    def learn_lower(self, index: int, bound: float, now: float) -> None:
        """Evidence that bucket `index`'s true capacity is at least `bound`."""
        if self.learners is None or self.buckets is None:
            return
        new = self.learners[index].lower_bound(bound)
        if new is not None and new > self.buckets[index].capacity:
            self.buckets[index].resize(new, now)
