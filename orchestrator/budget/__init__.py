"""The shared throughput budget: per model class RPM / ITPM / OTPM token buckets and leases.

`Budget` is the entry point (`async with budget.lease(...) as lease`); `TokenBucket` and
`ModelAccount` are its pure cores, usable without an event loop.
"""

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
    "RequestTooLarge",
    "SpendLimitReached",
    "TokenBucket",
    "rate_limited",
    "resync",
]
