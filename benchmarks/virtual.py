"""Running one coroutine in virtual time: see `orchestrator._simulate_virtual`.

The benchmark harness and `dagwright simulate` share one implementation; this module
keeps the benchmarks' import path.
"""

from __future__ import annotations

from orchestrator._simulate_virtual import DEFAULT_NOOP_CYCLES, VIRTUAL_END_S, run_virtual

__all__ = ["DEFAULT_NOOP_CYCLES", "VIRTUAL_END_S", "run_virtual"]
