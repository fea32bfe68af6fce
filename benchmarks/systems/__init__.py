"""The systems compared: dagwright (one entry per split policy) and the baselines."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from benchmarks.systems.base import RunContext, System, SystemOutcome
from benchmarks.systems.cookbook import run_cookbook
from benchmarks.systems.dagwright import run_dagwright
from benchmarks.systems.langgraph_sys import run_langgraph
from benchmarks.systems.limiter import run_limited
from benchmarks.systems.naive import run_naive

__all__ = [
    "BASELINES",
    "DAGWRIGHT",
    "DECLARED",
    "NO_WARM",
    "ORACLE",
    "POLICIES",
    "RunContext",
    "System",
    "SystemOutcome",
    "SystemSpec",
    "expand_systems",
]

DAGWRIGHT = "dagwright"
#: Diagnostic: dagwright told each role's mean output (see `systems.dagwright`).
DECLARED = "dagwright-declared"
#: Diagnostic: dagwright told each call's exact output, with `max_tokens` sized to it: what
#: the scheduler makes of the knowledge the lower bound has (see `systems.dagwright`).
ORACLE = "dagwright-oracle"
#: Diagnostic: dagwright without the warm-first gate (every shared-prefix call goes at once).
NO_WARM = "dagwright-nowarm"
POLICIES: tuple[str, ...] = ("fifo", "fair", "priority", "critical_path")
#: Baselines by name: B0 naive gather (SDK retries 2 / 10), B1 RPM limiters, B2 cookbook,
#: B3 LangGraph (optional: see `langgraph_sys.available`).
BASELINES: dict[str, System] = {
    "B0-naive-r2": functools.partial(run_naive, retries=2),
    "B0-naive-r10": functools.partial(run_naive, retries=10),
    "B1-aiolimiter": functools.partial(run_limited, limiter="aiolimiter"),
    "B1-throttle": functools.partial(run_limited, limiter="throttle"),
    "B2-cookbook": run_cookbook,
    "B3-langgraph": run_langgraph,
}


_DAGWRIGHT_VARIANTS = (DAGWRIGHT, DECLARED, ORACLE, NO_WARM)


@dataclass(frozen=True, kw_only=True, slots=True)
class SystemSpec:
    """One system of the matrix: a baseline, or dagwright with one split policy."""

    name: str
    policy: str | None = None

    @property
    def label(self) -> str:
        """`dagwright/critical_path`, `B0-naive-r2`, ..."""
        return f"{self.name}/{self.policy}" if self.policy else self.name

    def runner(self) -> System:
        """The coroutine function running this system on a `RunContext`."""
        if self.name in _DAGWRIGHT_VARIANTS:
            assert self.policy is not None
            return functools.partial(
                run_dagwright,
                policy=self.policy,
                declare_output=self.name == DECLARED,
                warm_first=self.name != NO_WARM,
                oracle=self.name == ORACLE,
            )
        return BASELINES[self.name]


def expand_systems(names: list[str], policies: tuple[str, ...] = POLICIES) -> list[SystemSpec]:
    """`["dagwright", "B0-naive-r2"]` -> specs; `dagwright/fifo` names one policy.

    `B0` / `B1` / `B2` name every variant of that baseline; `dagwright-declared`,
    `dagwright-oracle` and `dagwright-nowarm` run the critical_path policy (or
    `dagwright-declared/<policy>`, ...).
    """
    specs: list[SystemSpec] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        base, _, policy = name.partition("/")
        if base in _DAGWRIGHT_VARIANTS:
            if policy and policy not in POLICIES:
                raise ValueError(f"unknown policy {policy!r}; known: {', '.join(POLICIES)}")
            if policy:
                specs.append(SystemSpec(name=base, policy=policy))
            elif base == DAGWRIGHT:
                specs += [SystemSpec(name=DAGWRIGHT, policy=p) for p in policies]
            else:
                specs.append(SystemSpec(name=base, policy="critical_path"))
        elif name in BASELINES:
            specs.append(SystemSpec(name=name))
        elif any(b.startswith(name + "-") for b in BASELINES):
            specs += [SystemSpec(name=b) for b in BASELINES if b.startswith(name + "-")]
        else:
            known = ", ".join([*_DAGWRIGHT_VARIANTS, *BASELINES])
            raise ValueError(f"unknown system {name!r}; known: {known} (or dagwright/<policy>)")
    return list(dict.fromkeys(specs))
