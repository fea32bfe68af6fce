"""Frozen snapshots of the budget's state, for progress bars, events and reports."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from orchestrator.limits import AccountingMode, BucketKind

__all__ = ["BucketStatistics", "BudgetStatistics", "ModelClassStatistics"]


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
