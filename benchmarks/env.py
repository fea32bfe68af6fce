"""The server side of one benchmark run: the emulator's configuration, limits and prompts.

Each run gets a fresh `Emulator` enforcing the workload's tier in the run's accounting
mode: `legacy` (max_tokens reserved at admission), or `actual` with `exhaustion:
throttle` (output charged as generated; streams slowed to the refill rate when it runs
out). Latency jitter is 0 and the acceleration limit is off, so a node's latency is
exactly L_v = ttft + prefill * i_v + o_v / tokens_per_second and the lower bound is
exact. Prompts are filler text sized by the emulator's published token rule (4 bytes a
token plus message and block overheads), so the server counts exactly the node's input.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """The emulator configuration of one run and what follows from it."""

    config: EmulatorConfig
    limits: ModelLimits
    latency: LatencyModel
    mode: AccountingMode


def server_setup(workload: Workload, mode: AccountingMode, seed: int) -> ServerSetup:
    """The emulator of a run of `workload` in `mode` (one model class per workload)."""
    config = EmulatorConfig.load(
        {
            "seed": seed,
            "tier": workload.tier,
            "accounting": mode,
            "exhaustion": "throttle",
            "latency": {"*": {"jitter": 0.0}},
            "ramp": {"enabled": False},
            "wall_epoch": WALL_EPOCH,
        }
    )
    classes = {model_class(node.model) for node in workload.nodes}
    if len(classes) != 1 or None in classes:
        raise ValueError(
            f"workload {workload.name}: the harness needs one known model class, got {classes}"
        )
    cls = next(iter(classes))
    assert cls is not None
    return ServerSetup(
        config=config,
        limits=config.model_limits(cls),
        latency=config.latency_model(cls),
        mode=mode,
    )


def lower_bound_mode(mode: AccountingMode) -> LowerBoundMode:
    """The lower bound's mode for a server in `mode` (actual always runs with throttle)."""
    return "legacy" if mode == "legacy" else "actual-throttle"


def prompt_text(node: BenchNode) -> str:
    """A user message the emulator counts as exactly `node.input_tokens` input tokens."""
    size = BYTES_PER_TOKEN * max(1, node.input_tokens - _PROMPT_OVERHEAD)
    head = f"[{node.id}] "
    body = _FILLER * (size // len(_FILLER) + 1)
    return (head + body)[:size]
