"""The targets of BENCHMARKS.md that this harness measures, judged from the summaries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from benchmarks.report import REFERENCE, Summary

__all__ = ["Verdict", "evaluate"]

RATIO_WORKLOADS = frozenset({"W1", "W2", "W3", "W4", "W7"})
MEAN_RATIO, MAX_RATIO = 1.05, 1.10
W7_SPEEDUP = 1.5  # in legacy accounting, where max_tokens is reserved
NEVER_BEHIND = 1.02

Status = Literal["met", "NOT met", "n/a"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Verdict:
    """One target on one (workload, mode)."""

    target: str
    workload: str
    mode: str
    status: Status
    detail: str


def evaluate(summaries: Sequence[Summary]) -> list[Verdict]:
    """Verdicts for the reference system (dagwright/critical_path) on each (workload, mode)."""
    verdicts: list[Verdict] = []
    refs = [s for s in summaries if s.label == REFERENCE]
    for ref in refs:
        peers = [s for s in summaries if (s.workload, s.mode) == (ref.workload, ref.mode)]
        w, m = ref.workload, ref.mode
        if w in RATIO_WORKLOADS:
            ok = ref.mean_ratio <= MEAN_RATIO and ref.max_ratio <= MAX_RATIO
            verdicts.append(
                Verdict(
                    target=f"makespan/LB <= {MEAN_RATIO} mean, <= {MAX_RATIO} max",
                    workload=w,
                    mode=m,
                    status="met" if ok else "NOT met",
                    detail=f"mean {ref.mean_ratio:.3f}, max {ref.max_ratio:.3f}",
                )
            )
        verdicts.append(
            Verdict(
                target="0 429s",
                workload=w,
                mode=m,
                status="met" if ref.n_429 == 0 else "NOT met",
                detail=f"{ref.n_429} 429s, {ref.lost} lost",
            )
        )
        baselines = [s for s in peers if s.label.startswith(("B0", "B1", "B2"))]
        behind = [
            f"{s.label} {s.mean_makespan:,.1f} s"
            for s in baselines
            if s.complete and ref.mean_makespan > NEVER_BEHIND * s.mean_makespan
        ]
        verdicts.append(
            Verdict(
                target=f"never behind a baseline by > {NEVER_BEHIND - 1:.0%}",
                workload=w,
                mode=m,
                status="NOT met" if behind else "met",
                detail=(
                    f"dagwright {ref.mean_makespan:,.1f} s; behind: {', '.join(behind)}"
                    if behind
                    else f"dagwright {ref.mean_makespan:,.1f} s vs complete baselines"
                ),
            )
        )
        if w == "W7" and m == "legacy":
            for s in baselines:
                if not s.label.startswith(("B0", "B2")):
                    continue
                speedup = s.mean_makespan / ref.mean_makespan
                if not s.complete:
                    status: Status = "n/a"
                    detail = (
                        f"{s.label} lost {s.lost} tasks (gave up after {s.mean_makespan:,.1f} s "
                        f"on average); dagwright finished all in {ref.mean_makespan:,.1f} s"
                    )
                else:
                    status = "met" if speedup >= W7_SPEEDUP else "NOT met"
                    detail = f"{s.label} {s.mean_makespan:,.1f} s = {speedup:.2f}x dagwright"
                verdicts.append(
                    Verdict(
                        target=f"W7: ahead of {s.label} by >= {W7_SPEEDUP}x",
                        workload=w,
                        mode=m,
                        status=status,
                        detail=detail,
                    )
                )
    return verdicts
