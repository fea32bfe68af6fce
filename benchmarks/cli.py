"""`python -m benchmarks`: emulator throughput, overhead, then the workload matrix.

```
python -m benchmarks                          # W1,W7 x all systems x legacy,actual x 5 seeds
python -m benchmarks --workloads W1,W2,W3,W4,W7 --seeds 10 --json /tmp/bench.json
python -m benchmarks --quick                  # 1 seed, dagwright/critical_path and B0
```
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, cast

import structlog
from rich.console import Console

from benchmarks import emulator_throughput, overhead
from benchmarks.env import MODES
from benchmarks.harness import RunSpec, matrix, run_all, run_one
from benchmarks.record import Record
from benchmarks.report import REFERENCE, print_overhead, print_results, print_throughput
from benchmarks.systems import BASELINES, DAGWRIGHT, DECLARED, expand_systems
from benchmarks.targets import evaluate
from benchmarks.virtual import DEFAULT_NOOP_CYCLES
from benchmarks.workloads import WORKLOADS
from orchestrator.limits import AccountingMode

__all__ = ["main", "parse_args"]

DEFAULT_SYSTEMS = [DAGWRIGHT, DECLARED, *BASELINES]
QUICK_SYSTEMS = [f"{DAGWRIGHT}/critical_path", "B0-naive-r2"]


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--workloads", default="W1,W7", help=f"of {','.join(WORKLOADS)}")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 5)")
    parser.add_argument(
        "--systems",
        default=None,
        help="dagwright (all policies), dagwright/<policy>, dagwright-declared, "
        f"{', '.join(BASELINES)}, or B0/B1/B2 (default: all)",
    )
    parser.add_argument("--modes", default=",".join(MODES), help="legacy,actual")
    parser.add_argument("--quick", action="store_true", help="1 seed, 2 systems, small overhead")
    parser.add_argument("--json", type=Path, default=None, help="write the records to FILE")
    parser.add_argument("--no-emulator-throughput", action="store_true")
    parser.add_argument("--no-overhead", action="store_true")
    parser.add_argument(
        "--overhead-nodes",
        default=None,
        help="DAG sizes for the scheduler's CPU per node (default 10000; the first size "
        "also runs queued under tier-2 limits)",
    )
    parser.add_argument("--noop-cycles", type=int, default=DEFAULT_NOOP_CYCLES)
    parser.add_argument("--verbose", action="store_true", help="a line per run")
    args = parser.parse_args(argv)
    workloads = _csv(args.workloads)
    for name in workloads:
        if name not in WORKLOADS:
            parser.error(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}")
    modes = _csv(args.modes)
    for mode in modes:
        if mode not in MODES:
            parser.error(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
    if args.seeds is None:
        args.seeds = 1 if args.quick else 5
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    names = (
        _csv(args.systems) if args.systems else (QUICK_SYSTEMS if args.quick else DEFAULT_SYSTEMS)
    )
    try:
        args.system_specs = expand_systems(names)
    except ValueError as exc:
        parser.error(str(exc))
    sizes = args.overhead_nodes or ("2000" if args.quick else "10000")
    args.overhead_sizes = [int(v) for v in _csv(sizes)]
    args.workload_names = workloads
    args.mode_names = cast(list[AccountingMode], modes)
    return args


def _progress(console: Console, total: int, verbose: bool) -> Any:
    done = 0

    def on_record(record: Record) -> None:
        nonlocal done
        done += 1
        if verbose:
            console.print(
                f"  [{done}/{total}] {record.workload} {record.mode:<6} seed {record.seed} "
                f"{record.label:<32} makespan {record.makespan_s:9.1f} s  "
                f"ratio {record.ratio:.3f}  429s {record.n_429:<5} lost {record.lost_tasks:<4} "
                f"({record.wall_s:.1f} s)"
            )
        else:
            print(f"\r  {done}/{total} runs", end="", file=sys.stderr, flush=True)

    return on_record


def _determinism(
    console: Console, specs: list[RunSpec], records: list[Record], noop_cycles: int
) -> dict[str, Any]:
    """Re-run the first reference cell of each workload; its event hash must not change."""
    checks = []
    seen: set[str] = set()
    for spec, record in zip(specs, records, strict=True):
        if record.label != REFERENCE or spec.workload in seen:
            continue
        seen.add(spec.workload)
        again = run_one(spec, noop_cycles=noop_cycles)
        checks.append(
            {
                "workload": spec.workload,
                "mode": spec.mode,
                "seed": spec.seed,
                "first": record.events_hash,
                "second": again.events_hash,
                "same": again.events_hash == record.events_hash,
            }
        )
    for check in checks:
        verdict = "identical" if check["same"] else "DIFFERENT"
        console.print(
            f"  determinism: {check['workload']} {check['mode']} seed {check['seed']} "
            f"{REFERENCE} run twice: event hashes {check['first']} / {check['second']} ({verdict})"
        )
    return {"checks": checks}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; 0 on success (targets are reported, not enforced)."""
    args = parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    console = Console(width=200)
    started = time.perf_counter()
    meta: dict[str, Any] = {}
    if not args.no_emulator_throughput:
        rows = emulator_throughput.run(300 if args.quick else 5000)
        meta["emulator_throughput"] = rows
        print_throughput(console, rows)
    if not args.no_overhead:
        sizes = (1_000, 10_000) if args.quick else (1_000, 10_000, 100_000)
        meta["overhead"] = {
            "lease_settle": overhead.lease_settle_cost(2_000 if args.quick else 20_000),
            "admission": overhead.admission_cost(sizes, samples=1_000 if args.quick else 5_000),
            "scheduler": [
                overhead.scheduler_cost(n, queued=i == 0) for i, n in enumerate(args.overhead_sizes)
            ],
        }
        print_overhead(console, meta["overhead"])
    specs = list(matrix(args.workload_names, args.system_specs, args.mode_names, range(args.seeds)))
    console.rule(
        f"Workloads in virtual time: {len(specs)} runs "
        f"({', '.join(args.workload_names)} x {len(args.system_specs)} systems x "
        f"{', '.join(args.mode_names)} x {args.seeds} seed(s))"
    )
    matrix_started = time.perf_counter()
    records = run_all(
        specs,
        noop_cycles=args.noop_cycles,
        on_record=_progress(console, len(specs), args.verbose),
    )
    if not args.verbose:
        print(file=sys.stderr)
    meta["matrix_wall_s"] = time.perf_counter() - matrix_started
    summaries = print_results(console, records)
    meta["determinism"] = _determinism(console, specs, records, args.noop_cycles)
    console.rule("Targets (dagwright, critical_path policy)")
    verdicts = evaluate(summaries)
    for v in verdicts:
        console.print(f"  {v.status:<8} {v.workload} {v.mode:<6} {v.target}: {v.detail}")
    meta["targets"] = [
        {
            "target": v.target,
            "workload": v.workload,
            "mode": v.mode,
            "status": v.status,
            "detail": v.detail,
        }
        for v in verdicts
    ]
    meta["wall_s"] = time.perf_counter() - started
    console.print(
        f"  wall time: {meta['wall_s']:.1f} s in all, {meta['matrix_wall_s']:.1f} s for "
        f"{len(records)} virtual-time runs"
    )
    if args.json is not None:
        args.json.write_text(json.dumps([r.to_json() for r in records], indent=1) + "\n")
        meta_path = args.json.with_suffix(".meta.json")
        meta_path.write_text(json.dumps(meta, indent=1, default=str) + "\n")
        console.print(f"  wrote {args.json} ({len(records)} records) and {meta_path}")
    return 0
