"""Periodic `budget.sample` events: each bucket's level over time, for the run report.

The budget keeps no history of its levels, so a run that wants to show utilisation over
time samples `Budget.statistics()` on the budget's own clock (virtual time in tests and
simulations). The interval doubles every `_PER_STEP` samples, so a long run stays at a
few thousand samples at most.
"""

from __future__ import annotations

import asyncio
from typing import Any

from orchestrator.budget import Budget
from orchestrator.budget.stats import BucketStatistics, BudgetStatistics
from orchestrator.events import EventLog

__all__ = ["sample_budget", "sample_data"]

_PER_STEP = 400


def _bucket(stats: BucketStatistics) -> dict[str, float]:
    return {
        "available": round(stats.available, 3),
        "debt": round(stats.debt, 3),
        "capacity": round(stats.capacity, 3),
        "rate": round(stats.rate, 6),
        "granted": round(stats.granted, 3),
        "used_10s": round(stats.used_10s, 3),
    }


def sample_data(stats: BudgetStatistics) -> dict[str, Any]:
    """The payload of one `budget.sample` event: per model class, its queue and buckets."""
    classes: dict[str, Any] = {}
    for cls in stats.classes:
        entry: dict[str, Any] = {
            "waiting": cls.waiting,
            "in_flight": cls.in_flight,
            "rate_limited": cls.rate_limited,
        }
        for name in ("requests", "input_tokens", "output_tokens"):
            bucket = getattr(cls, name)
            if bucket is not None:
                entry[name] = _bucket(bucket)
        classes[cls.model_class] = entry
    return {"classes": classes}


async def sample_budget(budget: Budget, events: EventLog, *, interval: float = 0.25) -> None:
    """Emit a `budget.sample` every `interval` seconds of the budget's clock until cancelled.

    The first sample is taken one interval in, after the run's `run.started`; the caller
    takes a last one (`emit_sample`) when the run ends.
    """
    if interval <= 0:
        raise ValueError(f"interval must be > 0 seconds, got {interval}")
    count = 0
    while True:
        await budget.clock.sleep(interval)
        emit_sample(budget, events)
        count += 1
        if count % _PER_STEP == 0:
            interval *= 2


def emit_sample(budget: Budget, events: EventLog) -> None:
    """One `budget.sample` event now (nothing while no model class has been used)."""
    stats = budget.statistics()
    if stats.classes:
        events.emit("budget.sample", **sample_data(stats))


async def stop_sampler(task: asyncio.Task[None]) -> None:
    """Cancel a `sample_budget` task and wait for it to end."""
    task.cancel()
    # `asyncio.wait` returns when the task ends, however it ends, and raises only when the
    # caller itself is cancelled meanwhile (which must then propagate).
    await asyncio.wait([task])
