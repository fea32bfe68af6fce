"""Re-sizing waiting leases when the caller learns how much its calls really produce.

A fan-out creates all its calls at once. Sized then, before any of them has answered,
every lease of an unknown kind reserves its declared `max_tokens`: in legacy mode that
is what the server charges at admission, in actual mode it is the conservative expected
output. Once the first answers teach the caller the real sizes, the leases still waiting
are sized from stale guesses; left so, a 300-call fan-out with `max_tokens` 8192 and
outputs of ~500 runs at a sixteenth of the output bucket's pace.

So a caller may tag a lease with a sizing key (the kind of task) and later publish a new
sizing for the key (`Budget.resize`). Waiting leases pick it up lazily, when they reach
the head of the queue: O(1) per admission however many leases wait, and no queue
rebuild (the split policies order by tail, priority, arrival or group usage, none of
which a resize changes; a fair queue's group shares use the size at enqueue time).
A resize never lifts a lease above the caller's own `max_tokens` or expected output, so
it can make a lease smaller, never one that could not fit.

A leaner `max_tokens` is a bet: an answer longer than the learned size is cut short and
must be sent again, a whole call's latency lost (on a critical chain, straight onto the
makespan). The bet only pays when the output bucket is short. So in legacy mode a
re-sized lease at the head goes with the size its caller asked for (`Lease.generous`)
when the buckets still cover a typical waiting lease after it; the lean size is used only
under pressure, when the difference would hold the next one back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from orchestrator.budget.lease import Lease
from orchestrator.budget.sizing import dominant_share, size_lease
from orchestrator.limits import AccountingMode
from policies.split import SplitPolicy

__all__ = ["Sizing", "apply_sizing"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Sizing:
    """What the caller now expects of calls with one sizing key.

    `max_tokens` None keeps each lease's own `max_tokens` (actual mode, where a smaller
    one reserves nothing less); `epoch` counts the updates, so a lease re-sizes once each.
    """

    output_tokens: int
    max_tokens: int | None
    epoch: int


def apply_sizing(
    lease: Lease,
    sizing: Sizing,
    *,
    mode: AccountingMode,
    policy: SplitPolicy,
    configured_output: float,
    learned_output: float | None,
    max_tokens_cap: int | None,
    capacities: tuple[float, float, float] | None,
) -> bool:
    """Re-size a waiting `lease` to `sizing` (once per epoch); True if its reservation changed."""
    if lease.sizing_epoch == sizing.epoch:
        return False
    lease.sizing_epoch = sizing.epoch
    declared = lease.declared_max_tokens
    ceiling = declared if sizing.max_tokens is None else max(1, min(declared, sizing.max_tokens))
    size = size_lease(
        task_id=lease.task_id,
        input_tokens=lease.input_tokens,
        max_tokens=ceiling,
        output_tokens=min(max(0, sizing.output_tokens), lease.declared_output_tokens, ceiling),
        mode=mode,
        policy=policy,
        configured_output=configured_output,
        learned_output=learned_output,
        max_tokens_cap=max_tokens_cap,
    )
    if size.reserved == lease.reserved and size.max_tokens == lease.max_tokens:
        return False
    if lease.generous is None:
        lease.generous = (lease.request, lease.max_tokens, lease.reserved)
    lease.request = dataclasses.replace(
        lease.request,
        output_tokens=size.expected,
        max_tokens=size.max_tokens,
        share=dominant_share(size.reserved, capacities),
    )
    lease.max_tokens = size.max_tokens
    lease.reserved = size.reserved
    return True
