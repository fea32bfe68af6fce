"""The best a scheduler can expect when it cannot see a call's output before the call ends.

The lower bound (`orchestrator.lowerbound`) is computed with every call's realised output,
so its schedule may admit the shortest calls last. A real scheduler learns a call's
output only when the call ends. `blind_makespan` replays a DAG, in legacy accounting
(every bucket charged at admission), with a scheduler that is perfect in every other way:

- each call reserves exactly the output it will produce (no `max_tokens` headroom held
  while it runs, no truncated answer to resend);
- a call is admitted the moment every bucket covers it, buckets full at the start;
- but ready calls are taken in an order that cannot depend on their outputs: a random
  permutation, and the result is the mean over `orders` permutations.

On a fan-out of alike calls (W7), or where the only choice is among alike calls (W3's
workers between its planner and reducer), every order a blind scheduler could choose is
one of these permutations, so the mean is what output-size prediction, however good, can
expect at best. The gap between it and the lower bound is the price of not knowing which
calls are long; the gap between it and a measured run is what the scheduler's
reservations cost. Where the calls differ in what a scheduler does know (W3's workers'
prompt sizes, 3k-8k, a tenth of a second of prefill) the figure is a close reference
rather than a proof; on a DAG with chains a real scheduler also knows the graph's shape,
which a random order ignores, and the figure is not a floor at all.
"""

from __future__ import annotations

import heapq
import random
import statistics
from collections.abc import Sequence

from orchestrator.limits import BucketKind, ModelLimits
from orchestrator.lowerbound import DagNode

__all__ = ["blind_makespan"]

_KINDS = (BucketKind.REQUESTS, BucketKind.INPUT, BucketKind.OUTPUT)


def blind_makespan(
    nodes: Sequence[DagNode], limits: ModelLimits, *, orders: int = 16, seed: int = 0
) -> float:
    """Mean makespan over `orders` random admission orders (see the module's docstring)."""
    if orders < 1:
        raise ValueError(f"orders must be >= 1, got {orders}")
    rng = random.Random(seed)
    runs = [_one_order(nodes, limits, rng) for _ in range(orders)]
    return statistics.fmean(runs)


def _one_order(nodes: Sequence[DagNode], limits: ModelLimits, rng: random.Random) -> float:
    capacity = [limits.capacity(kind) for kind in _KINDS]
    rate = [limits.rate(kind) for kind in _KINDS]
    level = list(capacity)
    rank = list(range(len(nodes)))
    rng.shuffle(rank)
    index = {node.id: i for i, node in enumerate(nodes)}
    waiting_on = [0] * len(nodes)
    for node in nodes:
        for successor in node.successors:
            waiting_on[index[successor]] += 1
    ready = [(rank[i], i) for i in range(len(nodes)) if waiting_on[i] == 0]
    heapq.heapify(ready)
    running: list[tuple[float, int]] = []
    now = end = 0.0

    def advance(to: float) -> None:
        nonlocal now
        for k in range(3):
            level[k] = min(capacity[k], level[k] + rate[k] * (to - now))
        now = to

    while ready or running:
        admit_at = float("inf")
        demand: tuple[float, float, float] = (0.0, 0.0, 0.0)
        if ready:
            node = nodes[ready[0][1]]
            # A call larger than a bucket's capacity waits for a full bucket, as in the bound.
            demand = (
                min(1.0, capacity[0]),
                min(node.input_tokens, capacity[1]),
                min(node.output_tokens, capacity[2]),
            )
            admit_at = now + max(max(0.0, demand[k] - level[k]) / rate[k] for k in range(3))
        if running and running[0][0] <= admit_at:
            finish, i = heapq.heappop(running)
            advance(finish)
            for successor in nodes[i].successors:
                j = index[successor]
                waiting_on[j] -= 1
                if waiting_on[j] == 0:
                    heapq.heappush(ready, (rank[j], j))
            continue
        _, i = heapq.heappop(ready)
        advance(admit_at)
        for k in range(3):
            level[k] -= demand[k]
        finish = now + nodes[i].latency
        end = max(end, finish)
        heapq.heappush(running, (finish, i))
    return end
