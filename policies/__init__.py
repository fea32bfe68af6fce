"""Pluggable decisions: how capacity is split among waiting workers, retries, routing, caps."""

from policies.fair import FairPolicy, FairQueue
from policies.ordered import CriticalPathPolicy, FifoPolicy, OrderedPolicy, PriorityPolicy
from policies.registry import get_policy, get_routing
from policies.routing import (
    DifficultyRouting,
    FixedRouting,
    RoleRouting,
    RoutingPolicy,
)
from policies.split import LeaseRequest, SplitPolicy, WaitQueue, cap_max_tokens

__all__ = [
    "CriticalPathPolicy",
    "DifficultyRouting",
    "FairPolicy",
    "FairQueue",
    "FifoPolicy",
    "FixedRouting",
    "LeaseRequest",
    "OrderedPolicy",
    "PriorityPolicy",
    "RoleRouting",
    "RoutingPolicy",
    "SplitPolicy",
    "WaitQueue",
    "cap_max_tokens",
    "get_policy",
    "get_routing",
]
