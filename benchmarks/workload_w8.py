"""W8 robustness: the server is harsher than the limits it publishes.

The emulator enforces the nominal Tier-2 per-minute limits, but every bucket's true
burst capacity is only limit / 60 (one second's worth), latency varies +-30 % per
request, 1 % of requests get a 529 `overloaded_error`, and every request in one 10 s
window (from t = 40 s after the first request) gets a 429 `ramp_limit_exceeded` (an
acceleration-limit episode). Clients are configured with the nominal limits
(`ServerSetup.client_limits`) and must discover the rest.

The DAG is a 300-node fan-out feeding 3 reducers, sized to fit the small burst: inputs
of 2k-6k tokens (under the 7.5k input burst) and `max_tokens` 1024 (under the 1.5k
output burst, which legacy accounting reserves at admission).

Reported besides the usual metrics: 429 episodes (`benchmarks.groups.episodes`) and lost
nodes. The lower bound uses the true burst and latencies scaled by (1 - jitter).
"""

from __future__ import annotations

import random

from benchmarks.workloads import BenchNode, Workload

__all__ = ["ACCELERATION_WINDOW", "BURST_FRACTION", "w8"]

BURST_FRACTION = 1 / 60
JITTER = 0.3
OVERLOADED = 0.01
ACCELERATION_WINDOW = (40.0, 50.0)
WORKERS = 300
REDUCERS = 3


def w8(rng: random.Random, seed: int) -> Workload:
    """The W8 workload for one seed."""
    workers = [
        BenchNode(
            id=f"r{i:03d}",
            input_tokens=rng.randint(2_000, 6_000),
            output_tokens=rng.randint(200, 800),
            max_tokens=1024,
        )
        for i in range(WORKERS)
    ]
    share = WORKERS // REDUCERS
    reducers = [
        BenchNode(
            id=f"z{j}",
            deps=tuple(w.id for w in workers[j * share : (j + 1) * share]),
            input_tokens=4_000,
            output_tokens=rng.randint(500, 900),
            max_tokens=1024,
        )
        for j in range(REDUCERS)
    ]
    return Workload(
        name="W8",
        seed=seed,
        nodes=(*workers, *reducers),
        notes="300 -> 3 reducers; true burst limit/60, jitter 30%, 1% 529s, a 10 s ramp episode",
        server={
            "limits": {"*": {"burst_fraction": BURST_FRACTION}},
            "latency": {"*": {"jitter": JITTER}},
            "faults": {
                "overloaded_529": OVERLOADED,
                "acceleration_windows": [list(ACCELERATION_WINDOW)],
            },
        },
    )
