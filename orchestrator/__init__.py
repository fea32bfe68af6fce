"""dagwright's engine: limits, clock, budget, runner, CLI and the Messages API emulator."""

from orchestrator.clock import Clock, LoopClock, ManualClock
from orchestrator.limits import TIERS, AccountingMode, BucketKind, ModelLimits, model_class
from orchestrator.pricing import PRICES, Price, PriceTable, cost_usd

__all__ = [
    "PRICES",
    "TIERS",
    "AccountingMode",
    "BucketKind",
    "Clock",
    "LoopClock",
    "ManualClock",
    "ModelLimits",
    "Price",
    "PriceTable",
    "cost_usd",
    "model_class",
]
