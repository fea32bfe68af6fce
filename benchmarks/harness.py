"""Running the matrix: each (workload, system, policy, mode, seed) in virtual time.

A run builds a fresh emulator for the workload's limits and mode, lets the system send
every node through a traced HTTP client, and turns the trace into a `Record`, with the
lower bound computed from the usage the server reported.
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from agents.usage import Usage
from benchmarks.blind import blind_makespan
from benchmarks.bound import dag_nodes, realised_bound
from benchmarks.env import ServerSetup, lower_bound_mode, prompt_text, server_setup
from benchmarks.groups import episodes, group_metrics, only_group
from benchmarks.record import Record, utilisation
from benchmarks.systems import RunContext, SystemOutcome, SystemSpec
from benchmarks.trace import Trace
from benchmarks.virtual import DEFAULT_NOOP_CYCLES, run_virtual
from benchmarks.workload_w9 import predicted
from benchmarks.workloads import Workload, make_workload
from orchestrator.emulator import Emulator
from orchestrator.limits import AccountingMode, BucketKind

__all__ = ["RunSpec", "matrix", "run_all", "run_one"]


@dataclass(frozen=True, kw_only=True, slots=True)
class RunSpec:
    """One cell of the matrix."""

    workload: str
    system: SystemSpec
    mode: AccountingMode
    seed: int


def matrix(
    workloads: Iterable[str],
    systems: Iterable[SystemSpec],
    modes: Iterable[AccountingMode],
    seeds: Iterable[int],
) -> Iterator[RunSpec]:
    """Every combination, grouped by workload, then mode, then seed, then system."""
    systems, modes, seeds = list(systems), list(modes), list(seeds)
    for workload in workloads:
        for mode in modes:
            for seed in seeds:
                for system in systems:
                    yield RunSpec(workload=workload, system=system, mode=mode, seed=seed)


def run_one(
    spec: RunSpec,
    *,
    workload: Workload | None = None,
    noop_cycles: int = DEFAULT_NOOP_CYCLES,
) -> Record:
    """Run one cell in virtual time on a fresh loop and emulator; return its record."""
    work = workload if workload is not None else make_workload(spec.workload, spec.seed)
    setup = server_setup(work, spec.mode, spec.seed)
    prompts = {node.id: prompt_text(node) for node in work.nodes}
    system = spec.system.runner()

    async def main() -> tuple[SystemOutcome, float, float, Trace, Emulator]:
        emulator = Emulator(setup.config)
        trace = Trace()
        ctx = RunContext(
            workload=work,
            prompts=prompts,
            setup=setup,
            emulator=emulator,
            trace=trace,
            seed=spec.seed,
            started_at=trace.clock.now(),
        )
        start = ctx.started_at
        outcome = await system(ctx)
        return outcome, start, trace.clock.now() - start, trace, emulator

    # The anthropic SDK jitters its own retries' delays with the global `random` (the
    # baselines retry through it): seed it per cell, so a cell's record does not depend on
    # the process it runs in.
    random.seed(zlib.crc32(f"{spec.workload}/{spec.system.label}/{spec.mode}/{spec.seed}".encode()))
    wall, cpu = time.perf_counter(), time.process_time()
    outcome, started_at, makespan, trace, emulator = run_virtual(main, noop_cycles=noop_cycles)
    wall = time.perf_counter() - wall
    usage = trace.final_usage()
    bound = realised_bound(
        work, usage, latency=setup.latency, limits=setup.limits, mode=lower_bound_mode(spec.mode)
    )
    limits = setup.limits
    out_used = sum(u.output_tokens for u in usage.values())
    in_used = sum(u.itpm_tokens for u in usage.values())
    stats = emulator.stats()
    notes = dict(outcome.notes)
    notes["cpu_s"] = round(time.process_time() - cpu, 3)
    notes["emulator_429_by_limit"] = stats["rate_limited"]["rate_limit"]
    # answers cut at max_tokens (dagwright then resends with the caller's max_tokens)
    notes["truncated_answers"] = sum(s.stop_reason == "max_tokens" for s in trace.successes)
    notes["n_429_episodes"] = episodes(trace)
    if work.extra.get("blind_floor") and spec.mode == "legacy":
        # What a scheduler that sees no output before its call ends can expect at best.
        blind = blind_makespan(
            dag_nodes(work, usage, setup.latency), setup.limits, orders=16, seed=spec.seed
        )
        notes["blind_floor_s"] = round(blind, 3)
        notes["blind_floor_ratio"] = round(bound.ratio(blind), 4)
    _workload_notes(spec, work, notes, trace, usage, setup, started_at, noop_cycles)
    return Record(
        workload=work.name,
        system=spec.system.name,
        policy=spec.system.policy,
        mode=spec.mode,
        seed=spec.seed,
        makespan_s=round(makespan, 6),
        lower_bound_s=round(bound.value, 6),
        ratio=round(bound.ratio(makespan), 6),
        binding=bound.binding,
        n_429=trace.statuses[429],
        n_529=trace.statuses[529],
        lost_tasks=len(outcome.lost),
        out_util=round(
            utilisation(
                out_used,
                limits.capacity(BucketKind.OUTPUT),
                limits.rate(BucketKind.OUTPUT),
                makespan,
            ),
            6,
        ),
        in_util=round(
            utilisation(
                in_used, limits.capacity(BucketKind.INPUT), limits.rate(BucketKind.INPUT), makespan
            ),
            6,
        ),
        wasted_reservation=trace.unused_reservation() if spec.mode == "legacy" else None,
        cost_usd=round(float(stats["spend_usd"]), 6),
        wall_s=round(wall, 3),
        events_hash=trace.digest(),
        n_nodes=len(work.nodes),
        n_requests=sum(trace.statuses.values()),
        in_tokens_counted=int(stats["tokens"]["itpm_counted"]),
        lb_parts={
            "critical_path": round(bound.critical_path, 3),
            "requests": round(bound.requests, 3),
            "input": round(bound.input, 3),
            "output": None if bound.output is None else round(bound.output, 3),
        },
        notes=notes,
    )


def _workload_notes(
    spec: RunSpec,
    work: Workload,
    notes: dict[str, Any],
    trace: Trace,
    usage: Mapping[str, Usage],
    setup: ServerSetup,
    started_at: float,
    noop_cycles: int,
) -> None:
    """Per-group figures (W5: and each `extra["alone"]` group run on its own) and the
    figures predicted before the run (`extra["predict"]`, W9)."""
    mode = lower_bound_mode(spec.mode)
    groups = group_metrics(
        work,
        trace,
        usage,
        started_at=started_at,
        latency=setup.latency,
        limits=setup.limits,
        mode=mode,
    )
    alone = work.extra.get("alone")
    if isinstance(alone, str) and alone in groups:
        solo = run_one(
            spec, workload=only_group(work, alone, release=False), noop_cycles=noop_cycles
        )
        entry = groups[alone]
        entry["alone_makespan_s"] = solo.makespan_s
        entry["alone_lost"] = solo.lost_tasks
        if entry["makespan_s"] is not None and solo.makespan_s > 0:
            entry["vs_alone"] = round(entry["makespan_s"] / solo.makespan_s, 6)
    if groups:
        notes["groups"] = groups
    if work.extra.get("predict"):
        notes["prediction"] = predicted(work, setup.limits, setup.latency, mode)


def run_all(
    specs: Iterable[RunSpec],
    *,
    noop_cycles: int = DEFAULT_NOOP_CYCLES,
    on_record: Callable[[Record], None] | None = None,
) -> list[Record]:
    """Run every spec (workloads generated once per (name, seed))."""
    cache: dict[tuple[str, int], Workload] = {}
    records = []
    for spec in specs:
        key = (spec.workload, spec.seed)
        if key not in cache:
            cache[key] = make_workload(spec.workload, spec.seed)
        record = run_one(spec, workload=cache[key], noop_cycles=noop_cycles)
        records.append(record)
        if on_record is not None:
            on_record(record)
    return records
