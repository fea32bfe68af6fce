"""W5 mixed priorities: a critical 10-node chain arrives 30 s into a 500-node bulk fan-out.

The bulk (group `bulk`) is 500 independent calls of 4k-12k input, enough to keep the
input-token bucket busy for minutes. The chain (group `chain`, priority 10) is ten calls
in sequence, released at t = 30 s, each waiting for the previous one. A scheduler that
admits by priority or longest tail lets each chain call jump the bulk queue; a FIFO or a
naive gather makes it wait behind the bulk. Reported: the chain's makespan against the
same system running the chain alone, and the bulk's makespan against its own bound
(`benchmarks.groups`).
"""

from __future__ import annotations

import random

from benchmarks.workloads import BenchNode, Workload

__all__ = ["CHAIN", "CHAIN_PRIORITY", "CHAIN_RELEASE_S", "w5"]

BULK_NODES = 500
CHAIN_NODES = 10
CHAIN_RELEASE_S = 30.0
CHAIN_PRIORITY = 10
CHAIN = "chain"
BULK = "bulk"


def w5(rng: random.Random, seed: int) -> Workload:
    """The W5 workload for one seed."""
    bulk = [
        BenchNode(
            id=f"b{i:03d}",
            input_tokens=rng.randint(4_000, 12_000),
            output_tokens=rng.randint(200, 800),
            max_tokens=2000,
            group=BULK,
        )
        for i in range(BULK_NODES)
    ]
    chain = [
        BenchNode(
            id=f"k{i:02d}",
            deps=(f"k{i - 1:02d}",) if i else (),
            input_tokens=rng.randint(4_000, 8_000),
            output_tokens=max(100, int(rng.gauss(700, 100))),
            max_tokens=2000,
            priority=CHAIN_PRIORITY,
            release_at=CHAIN_RELEASE_S,
            group=CHAIN,
        )
        for i in range(CHAIN_NODES)
    ]
    return Workload(
        name="W5",
        seed=seed,
        nodes=(*bulk, *chain),
        notes=f"{CHAIN_NODES}-node chain (priority {CHAIN_PRIORITY}) released at "
        f"t={CHAIN_RELEASE_S:g} s into a {BULK_NODES}-node bulk fan-out",
        extra={"alone": CHAIN},
    )
