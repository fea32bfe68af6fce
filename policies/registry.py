"""Split policies by name, for YAML files and the command line."""

from __future__ import annotations

import difflib
from collections.abc import Callable

from policies.fair import FairPolicy
from policies.ordered import CriticalPathPolicy, FifoPolicy, PriorityPolicy
from policies.split import SplitPolicy

__all__ = ["SPLIT_POLICIES", "get_policy"]

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
