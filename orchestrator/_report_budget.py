"""The budget side of the run report: each bucket's share in use over time.

Read from the `budget.sample` events a launched run emits (see `_budget_sampler`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["BucketSeries", "bucket_series"]

_BUCKETS = ("requests", "input_tokens", "output_tokens")


@dataclass(frozen=True, kw_only=True, slots=True)
class BucketSeries:
    """One bucket of one model class over time: the share of it in use (1.0 = empty)."""

    model_class: str
    bucket: str
    capacity: float
    rate: float
    times: tuple[float, ...]
    in_use: tuple[float, ...]


def bucket_series(events: Sequence[Mapping[str, Any]]) -> tuple[BucketSeries, ...]:
    """`budget.sample` events of the latest session, as one series per class and bucket."""
    t0 = 0.0
    points: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {}
    for event in events:
        name = event.get("event")
        if name == "run.started":
            t0 = float(event.get("at", 0.0))
            points.clear()
            continue
        if name != "budget.sample":
            continue
        at = float(event.get("at", 0.0)) - t0
        classes = event.get("classes")
        if not isinstance(classes, dict):
            continue
        for cls, entry in classes.items():
            if not isinstance(entry, dict):
                continue
            for bucket in _BUCKETS:
                stats = entry.get(bucket)
                if not isinstance(stats, dict) or not stats.get("capacity"):
                    continue
                capacity = float(stats["capacity"])
                level = float(stats.get("available", 0.0)) - float(stats.get("debt", 0.0))
                in_use = (capacity - level) / capacity
                points.setdefault((str(cls), bucket), []).append(
                    (at, in_use, capacity, float(stats.get("rate", 0.0)))
                )
    series = []
    for (cls, bucket), rows in sorted(points.items()):
        series.append(
            BucketSeries(
                model_class=cls,
                bucket=bucket,
                capacity=rows[-1][2],
                rate=rows[-1][3],
                times=tuple(round(r[0], 4) for r in rows),
                in_use=tuple(round(r[1], 4) for r in rows),
            )
        )
    return tuple(series)
