"""`Record`: the metrics of one (workload, system, policy, mode, seed) run, JSON-ready."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["FIELDS", "Record", "utilisation"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Record:
    """One run's figures (BENCHMARKS.md, "Metrics per (workload, seed, system)").

    `ratio` is makespan / lower bound; `binding` the limit the bound says binds;
    `out_util` = sum(o) / (C_out + r_out * makespan), `in_util` the same for ITPM-counted
    input; `wasted_reservation` (legacy only, else None) = sum over admitted requests of
    `max_tokens` minus the output produced; `events_hash` hashes the ordered event log;
    `in_tokens_counted` is the input the server counted toward ITPM over every answered
    request (input + cache writes, not cache reads): the input-token budget used.
    """

    workload: str
    system: str
    policy: str | None
    mode: str
    seed: int
    makespan_s: float
    lower_bound_s: float
    ratio: float
    binding: str
    n_429: int
    n_529: int
    lost_tasks: int
    out_util: float
    in_util: float
    wasted_reservation: int | None
    cost_usd: float
    wall_s: float
    events_hash: str
    n_nodes: int = 0
    n_requests: int = 0
    in_tokens_counted: int = 0
    lb_parts: dict[str, float | None] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """`dagwright/critical_path`, `B0-naive-r2`, ..."""
        return f"{self.system}/{self.policy}" if self.policy else self.system

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data."""
        return asdict(self)


FIELDS: tuple[str, ...] = tuple(Record.__dataclass_fields__)


def utilisation(used: float, capacity: float, rate: float, makespan: float) -> float:
    """used / (capacity + rate * makespan): the share of what the bucket could supply."""
    supply = capacity + rate * makespan
    return used / supply if supply > 0 else 0.0
