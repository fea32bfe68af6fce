"""W6 shared-context fan-out (prompt caching): 100 workers, one 50k-token cached prefix.

Every worker sends the same 50k-token system block marked with `cache_control`, then 2k
tokens of its own. The first call to reach the server writes the prefix into the cache
(`cache_creation_input_tokens`, counted toward ITPM); a call that arrives once that
writer has produced its first token reads it (`cache_read_input_tokens`, not counted).
Sent all at once, as a naive gather does, every call admitted before the entry is
readable writes the prefix again; warm-first (one writer, then readers) pays it once.
Reported besides the ratio: the ITPM-counted input (`in_tokens_counted`).
"""

from __future__ import annotations

import random

from benchmarks.workloads import BenchNode, Workload

__all__ = ["OUTPUT_RANGE", "SHARED_PREFIX_TOKENS", "UNIQUE_TOKENS", "WORKERS", "w6"]

WORKERS = 100
SHARED_PREFIX_TOKENS = 50_000
UNIQUE_TOKENS = 2_000
OUTPUT_RANGE = (200, 800)


def w6(rng: random.Random, seed: int) -> Workload:
    """The W6 workload for one seed."""
    nodes = tuple(
        BenchNode(
            id=f"r{i:03d}",
            input_tokens=SHARED_PREFIX_TOKENS + UNIQUE_TOKENS,
            shared_prefix_tokens=SHARED_PREFIX_TOKENS,
            output_tokens=rng.randint(*OUTPUT_RANGE),
            max_tokens=2000,
        )
        for i in range(WORKERS)
    )
    return Workload(
        name="W6",
        seed=seed,
        nodes=nodes,
        notes=f"{WORKERS} x ({SHARED_PREFIX_TOKENS // 1000}k shared cached prefix "
        f"+ {UNIQUE_TOKENS // 1000}k own)",
    )
