"""Pluggable decisions: how capacity is split among waiting workers, retries, routing, caps."""

from policies.fair import FairPolicy, FairQueue
from policies.ordered import CriticalPathPolicy, FifoPolicy, OrderedPolicy, PriorityPolicy
from policies.registry import get_policy
from policies.split import LeaseRequest, SplitPolicy, WaitQueue, cap_max_tokens

__all__ = [
    "CriticalPathPolicy",
    "FairPolicy",
    "FairQueue",
    "FifoPolicy",
    "LeaseRequest",
    "OrderedPolicy",
    "PriorityPolicy",
    "SplitPolicy",
    "WaitQueue",
    "cap_max_tokens",
    "get_policy",
]
