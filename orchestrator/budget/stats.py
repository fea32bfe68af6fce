"""Frozen snapshots of the budget's state, for progress bars, events and reports."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.limits import AccountingMode, BucketKind

if TYPE_CHECKING:
    from orchestrator.budget.account import ModelAccount

__all__ = ["BucketStatistics", "BudgetStatistics", "ModelClassStatistics", "class_statistics"]

_KINDS = (BucketKind.REQUESTS, BucketKind.INPUT, BucketKind.OUTPUT)


@dataclass(frozen=True, kw_only=True, slots=True)
class BucketStatistics:
    """One bucket of one model class at one moment.

    Totals are cumulative since the budget was created. `used_*` are the tokens (or
    requests) really consumed in the last 10 / 60 seconds (settled usage; reservations of
    calls that ended without usage); `utilisation_*` is that over `rate * window`.
    """

    kind: BucketKind
    limit: int
    capacity: float
    configured_capacity: float
    rate: float
    available: float
    debt: float
    waiting_demand: float
    granted: float
    refunded: float
    debt_charged: float
    pulled_down: float
    used_10s: float
    used_60s: float

    @property
    def utilisation_10s(self) -> float:
        """Use over the last 10 s as a fraction of the refill rate."""
        return self.used_10s / (self.rate * 10.0)

    @property
    def utilisation_60s(self) -> float:
        """Use over the last 60 s as a fraction of the refill rate (1.0 = the full limit)."""
        return self.used_60s / (self.rate * 60.0)


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelClassStatistics:
    """One model class: its three buckets (None while its limits are still unknown)."""

    model_class: str
    mode: AccountingMode
    waiting: int
    in_flight: int
    admitted: int
    settled: int
    released: int
    rate_limited: int
    paused_until: float | None
    ramping_until: float | None
    requests: BucketStatistics | None
    input_tokens: BucketStatistics | None
    output_tokens: BucketStatistics | None

    def bucket(self, kind: BucketKind) -> BucketStatistics | None:
        """The statistics of one bucket."""
        return {
            BucketKind.REQUESTS: self.requests,
            BucketKind.INPUT: self.input_tokens,
            BucketKind.OUTPUT: self.output_tokens,
        }[kind]


@dataclass(frozen=True, kw_only=True, slots=True)
class BudgetStatistics(Mapping[str, ModelClassStatistics]):
    """The whole budget: a read-only mapping model class -> `ModelClassStatistics`."""

    at: float
    spend_limit_reached: bool
    classes: tuple[ModelClassStatistics, ...]

    def __getitem__(self, model_class: str) -> ModelClassStatistics:
        for stats in self.classes:
            if stats.model_class == model_class:
                return stats
        known = ", ".join(s.model_class for s in self.classes) or "none yet"
        raise KeyError(f"no statistics for model class {model_class!r}; known: {known}")

    def __iter__(self) -> Iterator[str]:
        return (s.model_class for s in self.classes)

    def __len__(self) -> int:
        return len(self.classes)

    @property
    def waiting(self) -> int:
        """Leases waiting, all classes."""
        return sum(s.waiting for s in self.classes)

    @property
    def in_flight(self) -> int:
        """Leases admitted and not yet settled or released, all classes."""
        return sum(s.in_flight for s in self.classes)

    @property
    def rate_limited(self) -> int:
        """429s reported, all classes."""
        return sum(s.rate_limited for s in self.classes)


def class_statistics(account: ModelAccount, now: float) -> ModelClassStatistics:
    """A frozen snapshot of one model class's account at `now`."""
    buckets = account.buckets
    per: list[BucketStatistics | None] = [None, None, None]
    if buckets is not None and account.limits is not None:
        for i, kind in enumerate(_KINDS):
            bucket = buckets[i]
            level = bucket.level(now)
            per[i] = BucketStatistics(
                kind=kind,
                limit=account.limits.limit(kind),
                capacity=bucket.capacity,
                configured_capacity=account.hard[i],
                rate=bucket.rate,
                available=max(0.0, level),
                debt=max(0.0, -level),
                waiting_demand=max(0.0, account.waiting_demand[i]),
                granted=account.granted[i],
                refunded=account.refunded[i],
                debt_charged=account.debt_charged[i],
                pulled_down=account.pulled[i],
                used_10s=account.used[i].total(now, 10.0),
                used_60s=account.used[i].total(now, 60.0),
            )
    return ModelClassStatistics(
        model_class=account.name,
        mode=account.mode,
        waiting=len(account.waiting),
        in_flight=account.in_flight,
        admitted=account.admitted,
        settled=account.settled,
        released=account.released,
        rate_limited=account.rate_limited,
        paused_until=account.paused_until if account.paused_until > now else None,
        ramping_until=account.ramp.end if account.ramp.active(now) else None,
        requests=per[0],
        input_tokens=per[1],
        output_tokens=per[2],
    )
