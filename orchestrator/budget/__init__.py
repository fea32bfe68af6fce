"""The shared throughput budget: per model class RPM / ITPM / OTPM token buckets and leases.

`Budget` is the entry point (`async with budget.lease(...) as lease`); `TokenBucket` and
`ModelAccount` are its pure cores, usable without an event loop. `RedisBudget` shares one
budget between processes through Redis (loaded on first use: `redis` is an optional extra).
"""

from typing import Any

from orchestrator.budget.account import ModelAccount
from orchestrator.budget.bucket import TokenBucket
from orchestrator.budget.budget import Budget
from orchestrator.budget.errors import (
    BudgetError,
    LeaseStateError,
    RequestTooLarge,
    SpendLimitReached,
)
from orchestrator.budget.feedback import rate_limited, resync
from orchestrator.budget.learning import CapacityLearner
from orchestrator.budget.lease import Lease, LeaseContext, LeaseState
from orchestrator.budget.ramp import BackoffConfig, Ramp, RampConfig
from orchestrator.budget.stats import BucketStatistics, BudgetStatistics, ModelClassStatistics

__all__ = [
    "BackoffConfig",
    "BucketStatistics",
    "Budget",
    "BudgetError",
    "BudgetStatistics",
    "CapacityLearner",
    "Lease",
    "LeaseContext",
    "LeaseState",
    "LeaseStateError",
    "ModelAccount",
    "ModelClassStatistics",
    "Ramp",
    "RampConfig",
    "RedisBudget",
    "RequestTooLarge",
    "SpendLimitReached",
    "TokenBucket",
    "rate_limited",
    "resync",
]


def __getattr__(name: str) -> Any:
    # `RedisBudget` needs the optional `redis` package: import it only when asked for.
    if name == "RedisBudget":
        from orchestrator.budget.redis_budget import RedisBudget

        return RedisBudget
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
