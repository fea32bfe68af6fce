"""The benchmark workloads of BENCHMARKS.md as plain data: nodes with sizes and edges.

A workload is generated from a seed; each node carries the output it will *really*
produce (sent to the emulator as `metadata.emulator_output_tokens`) and the `max_tokens`
a naive client would send. Schedulers see only what a real client would know: the input,
the declared `max_tokens` and, when the workload declares it, an expected output size.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["WORKLOADS", "BenchNode", "Workload", "expand_workloads", "make_workload"]

MODEL = "claude-sonnet-4-6"


@dataclass(frozen=True, kw_only=True, slots=True)
class BenchNode:
    """One model call of a benchmark DAG."""

    id: str
    deps: tuple[str, ...] = ()
    input_tokens: int
    output_tokens: int
    max_tokens: int
    expected_output_tokens: int | None = None
    shared_prefix_tokens: int = 0
    priority: int = 0
    release_at: float = 0.0
    group: str = "main"
    model: str = MODEL


@dataclass(frozen=True, kw_only=True)
class Workload:
    """A named DAG with the limits it is run under.

    `server` is merged into the emulator's configuration (see `benchmarks.env`).
    """

    name: str
    seed: int
    nodes: tuple[BenchNode, ...]
    tier: str = "tier2"
    notes: str = ""
    extra: dict[str, object] = field(default_factory=dict)
    server: dict[str, Any] = field(default_factory=dict)


def _w1(rng: random.Random, seed: int) -> Workload:
    nodes = tuple(
        BenchNode(
            id=f"w{i:03d}",
            input_tokens=20_000,
            output_tokens=rng.randint(300, 1500),
            max_tokens=2000,
        )
        for i in range(200)
    )
    return Workload(name="W1", seed=seed, nodes=nodes, notes="200 x 20k input, out U(300,1500)")


def _w2(rng: random.Random, seed: int) -> Workload:
    nodes = []
    for i in range(30):
        nodes.append(
            BenchNode(
                id=f"c{i:02d}",
                deps=(f"c{i - 1:02d}",) if i else (),
                input_tokens=5_000 + i * 30_000 // 29,
                output_tokens=max(50, int(rng.gauss(800, 80))),
                max_tokens=2000,
            )
        )
    return Workload(name="W2", seed=seed, nodes=tuple(nodes), notes="30-node chain")


def _w3(rng: random.Random, seed: int) -> Workload:
    workers = [
        BenchNode(
            id=f"m{i:03d}",
            deps=("plan",),
            input_tokens=rng.randint(3_000, 8_000),
            output_tokens=rng.randint(200, 800),
            max_tokens=2000,
        )
        for i in range(100)
    ]
    reducer_in = sum(w.output_tokens for w in workers) + 2_000
    nodes = [
        BenchNode(id="plan", input_tokens=3_000, output_tokens=1_500, max_tokens=4000),
        *workers,
        BenchNode(
            id="reduce",
            deps=tuple(w.id for w in workers),
            input_tokens=reducer_in,
            output_tokens=2_000,
            max_tokens=4000,
        ),
    ]
    return Workload(
        name="W3",
        seed=seed,
        nodes=tuple(nodes),
        notes="planner->100->reducer",
        # The only choice is among alike workers: `benchmarks.blind` applies, as on W7.
        extra={"blind_floor": True},
    )


def _lognormal(rng: random.Random, median: float, sigma: float, lo: int, hi: int) -> int:
    return max(lo, min(hi, int(median * math.exp(rng.gauss(0, sigma)))))


def _w4(rng: random.Random, seed: int) -> Workload:
    layers: list[list[str]] = []
    nodes: list[BenchNode] = []
    for layer in range(rng.randint(6, 10)):
        width = rng.randint(5, 40)
        ids = [f"l{layer}n{j:02d}" for j in range(width)]
        for node_id in ids:
            deps: tuple[str, ...] = ()
            if layers:
                deps = tuple(p for p in layers[-1] if rng.random() < 0.2)
            out = _lognormal(rng, 600, 0.6, 50, 4000)
            nodes.append(
                BenchNode(
                    id=node_id,
                    deps=deps,
                    input_tokens=_lognormal(rng, 6_000, 0.7, 500, 60_000),
                    output_tokens=out,
                    max_tokens=4096,
                )
            )
        layers.append(ids)
    return Workload(name="W4", seed=seed, nodes=tuple(nodes), notes="random layered DAG")


def _w7(rng: random.Random, seed: int) -> Workload:
    nodes = tuple(
        BenchNode(
            id=f"o{i:03d}",
            input_tokens=2_000,
            output_tokens=max(50, int(rng.gauss(500, 100))),
            max_tokens=8192,
        )
        for i in range(300)
    )
    return Workload(
        name="W7",
        seed=seed,
        nodes=nodes,
        notes="300 nodes, max_tokens 8192, out~500",
        # A fan-out of alike calls: `benchmarks.blind` gives the floor of output prediction.
        extra={"blind_floor": True},
    )


WORKLOADS: dict[str, Callable[[random.Random, int], Workload]] = {
    "W1": _w1,
    "W2": _w2,
    "W3": _w3,
    "W4": _w4,
    "W7": _w7,
}


def _register_split_modules() -> None:
    """W5, W6, W8 and W9 live in their own modules (`workload_w5`, ...), which import this one."""
    from benchmarks.workload_w5 import w5
    from benchmarks.workload_w6 import w6
    from benchmarks.workload_w8 import w8
    from benchmarks.workload_w9 import OTPM_VARIANTS, w9_variant

    WORKLOADS.update({"W5": w5, "W6": w6, "W8": w8})
    WORKLOADS.update({name: w9_variant(name) for name in OTPM_VARIANTS})
    ordered = sorted(WORKLOADS.items(), key=lambda item: int(item[0][1:].split("-")[0]))
    WORKLOADS.clear()
    WORKLOADS.update(ordered)


_register_split_modules()


def expand_workloads(names: list[str]) -> list[str]:
    """Workload names with families expanded (`W9` -> `W9-8k`, `W9-80k`); unknown names
    raise `ValueError` listing the known ones."""
    out: list[str] = []
    for name in names:
        family = [w for w in WORKLOADS if w.startswith(name + "-")]
        if name in WORKLOADS:
            out.append(name)
        elif family:
            out += family
        else:
            raise ValueError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}")
    return list(dict.fromkeys(out))


def make_workload(name: str, seed: int) -> Workload:
    """Generate workload `name` (e.g. "W1") for `seed`."""
    try:
        factory = WORKLOADS[name]
    except KeyError:
        raise ValueError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}") from None
    return factory(random.Random(f"{name}:{seed}"), seed)
