"""The server side of one benchmark run: the emulator's configuration, limits and prompts.

Each run gets a fresh `Emulator` enforcing the workload's tier in the run's accounting
mode: `legacy` (max_tokens reserved at admission), or `actual` with `exhaustion:
throttle` (output charged as generated; streams slowed to the refill rate when it runs
out). Latency jitter is 0 and the acceleration limit is off, so a node's latency is
exactly L_v = ttft + prefill * i_v + o_v / tokens_per_second and the lower bound is
exact. A workload may change the server (`Workload.server`, deep-merged into the
configuration: W8's small true burst, jitter and faults); clients are always configured
with the nominal per-minute limits (`ServerSetup.client_limits`), never the true burst.
Prompts are filler text sized by the emulator's published token rule (4 bytes a token
plus message and block overheads), so the server counts exactly the node's input.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from benchmarks.workloads import BenchNode, Workload
from orchestrator.emulator import EmulatorConfig, LatencyModel
from orchestrator.emulator.tokens import BLOCK_OVERHEAD, BYTES_PER_TOKEN, MESSAGE_OVERHEAD
from orchestrator.limits import AccountingMode, ModelLimits, model_class
from orchestrator.lowerbound import LowerBoundMode

__all__ = [
    "MODES",
    "TASK_HEADER",
    "ServerSetup",
    "lower_bound_mode",
    "prompt_text",
    "server_setup",
    "shared_prefix_text",
]

MODES: tuple[AccountingMode, ...] = ("legacy", "actual")
#: Request header carrying the task id, so the trace can attribute every HTTP attempt.
TASK_HEADER = "x-bench-task"
#: Fixed Unix time of the emulator's first request: reset headers are reproducible.
WALL_EPOCH = 1_750_000_000.0
_PROMPT_OVERHEAD = MESSAGE_OVERHEAD + BLOCK_OVERHEAD
_FILLER = "lorem ipsum dolor sit amet, consectetur adipiscing elit; "


@dataclass(frozen=True, kw_only=True, slots=True)
class ServerSetup:
    """The emulator configuration of one run and what follows from it.

    `limits` are what the server enforces (the lower bound uses them); `client_limits`
    what a client is told: the same per-minute limits with burst = one minute's worth.
    """

    config: EmulatorConfig
    limits: ModelLimits
    latency: LatencyModel
    mode: AccountingMode
    client_limits: ModelLimits


def server_setup(workload: Workload, mode: AccountingMode, seed: int) -> ServerSetup:
    """The emulator of a run of `workload` in `mode` (one model class per workload)."""
    base: dict[str, Any] = {
        "seed": seed,
        "tier": workload.tier,
        "accounting": mode,
        "exhaustion": "throttle",
        "latency": {"*": {"jitter": 0.0}},
        "ramp": {"enabled": False},
        "wall_epoch": WALL_EPOCH,
    }
    config = EmulatorConfig.load(_merged(base, workload.server))
    classes = {model_class(node.model) for node in workload.nodes}
    if len(classes) != 1 or None in classes:
        raise ValueError(
            f"workload {workload.name}: the harness needs one known model class, got {classes}"
        )
    cls = next(iter(classes))
    assert cls is not None
    limits = config.model_limits(cls)
    return ServerSetup(
        config=config,
        limits=limits,
        latency=config.latency_model(cls),
        mode=mode,
        client_limits=ModelLimits(rpm=limits.rpm, itpm=limits.itpm, otpm=limits.otpm),
    )


def _merged(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `override` merged in, mappings recursively."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def lower_bound_mode(mode: AccountingMode) -> LowerBoundMode:
    """The lower bound's mode for a server in `mode` (actual always runs with throttle)."""
    return "legacy" if mode == "legacy" else "actual-throttle"


def prompt_text(node: BenchNode) -> str:
    """A user message the emulator counts as exactly `node.input_tokens` input tokens
    (less the shared prefix, which is sent as a system block: `shared_prefix_text`)."""
    own = node.input_tokens - node.shared_prefix_tokens
    size = BYTES_PER_TOKEN * max(1, own - _PROMPT_OVERHEAD)
    head = f"[{node.id}] "
    body = _FILLER * (size // len(_FILLER) + 1)
    return (head + body)[:size]


@functools.lru_cache(maxsize=8)
def shared_prefix_text(tokens: int) -> str:
    """The text of a system block the emulator counts as exactly `tokens` (with its block
    overhead); the same for every node with that prefix size, so they share one cache entry."""
    size = BYTES_PER_TOKEN * max(1, tokens - BLOCK_OVERHEAD)
    body = _FILLER * (size // len(_FILLER) + 1)
    return ("[shared context] " + body)[:size]
