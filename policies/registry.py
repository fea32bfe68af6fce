"""Split and routing policies by name, for YAML files and the command line."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

from policies.fair import FairPolicy
from policies.ordered import CriticalPathPolicy, FifoPolicy, PriorityPolicy
from policies.routing import DifficultyRouting, FixedRouting, RoleRouting, RoutingPolicy
from policies.split import SplitPolicy

__all__ = ["ROUTING_POLICIES", "SPLIT_POLICIES", "get_policy", "get_routing"]

#: Policy name -> factory with default settings.
SPLIT_POLICIES: dict[str, Callable[[], SplitPolicy]] = {
    "critical_path": CriticalPathPolicy,
    "fair": FairPolicy,
    "fifo": FifoPolicy,
    "priority": PriorityPolicy,
}


def get_policy(name: str | SplitPolicy) -> SplitPolicy:
    """The split policy called `name` ("fifo", "fair", "priority", "critical_path").

    A policy object is returned as is. Case, spaces and dashes are ignored
    ("Critical-Path" works); an unknown name raises ValueError with a did-you-mean.
    """
    if not isinstance(name, str):
        return name
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    factory = SPLIT_POLICIES.get(key)
    if factory is None:
        known = ", ".join(sorted(SPLIT_POLICIES))
        close = difflib.get_close_matches(key, SPLIT_POLICIES, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown split policy {name!r}; known policies: {known}.{hint}")
    return factory()


#: Routing name -> factory over a model allowlist ordered strongest first.
ROUTING_POLICIES: dict[str, Callable[[Sequence[str]], RoutingPolicy]] = {
    "difficulty": DifficultyRouting.from_models,
    "fixed": lambda models: FixedRouting(models[0]),
    "role": lambda models: RoleRouting(planner=models[0], worker=models[-1]),
}


def get_routing(name: str | RoutingPolicy, models: Sequence[str]) -> RoutingPolicy:
    """The routing policy called `name` ("fixed", "role", "difficulty") over `models`.

    `models` is the allowlist, strongest first: "fixed" uses the first, "role" plans and
    synthesises with the first and runs workers on the last, "difficulty" spreads tasks
    from last (easy) to first (hard). A policy object is returned as is.
    """
    if not isinstance(name, str):
        return name
    if not models:
        raise ValueError("get_routing needs a non-empty model allowlist")
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    factory = ROUTING_POLICIES.get(key)
    if factory is None:
        known = ", ".join(sorted(ROUTING_POLICIES))
        close = difflib.get_close_matches(key, ROUTING_POLICIES, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown routing policy {name!r}; known policies: {known}.{hint}")
    return factory(list(models))
