"""`python -m benchmarks`: emulator throughput, overhead, then the workload matrix.

```
python -m benchmarks                    # every workload x all systems x legacy,actual x 5 seeds
python -m benchmarks --workloads W1,W5,W9 --seeds 10 --json /tmp/bench.json
python -m benchmarks --quick            # every workload, 1 seed, legacy, 2 systems
```

`W9` names both of its variants (`W9-8k`, `W9-80k`). B3 (LangGraph) runs when
`pip install -e '.[bench]'` installed it, and is skipped with a printed reason otherwise.
With `--json FILE` the records (one per run, and `workload: "overhead"` ones for the CPU
figures) go to FILE and everything else (throughput, determinism, targets, the markdown
table) to FILE with suffix `.meta.json`.
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
from benchmarks.report import (
    REFERENCE,
    details,
    markdown_table,
    print_overhead,
    print_results,
    print_throughput,
    summarise,
)
from benchmarks.systems import BASELINES, DAGWRIGHT, DECLARED, ORACLE, expand_systems
from benchmarks.systems.langgraph_sys import available as langgraph_available
from benchmarks.targets import evaluate, evaluate_groups
from benchmarks.virtual import DEFAULT_NOOP_CYCLES
from benchmarks.workloads import WORKLOADS, expand_workloads
from orchestrator.limits import AccountingMode

__all__ = ["main", "parse_args"]

DEFAULT_SYSTEMS = [DAGWRIGHT, DECLARED, ORACLE, *BASELINES]
LANGGRAPH = "B3-langgraph"
QUICK_SYSTEMS = [f"{DAGWRIGHT}/critical_path", "B0-naive-r2"]


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--workloads", default=None, help=f"of {','.join(WORKLOADS)} (default: all)"
    )
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 5)")
    parser.add_argument(
        "--systems",
        default=None,
        help="dagwright (all policies), dagwright/<policy>, dagwright-declared, "
        "dagwright-oracle, "
        f"{', '.join(BASELINES)}, or B0/B1/B2 (default: all)",
    )
    parser.add_argument("--modes", default=None, help="legacy,actual (--quick: legacy)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 seed, 2 systems, legacy accounting only, smaller overhead runs",
    )
    parser.add_argument(
        "--markdown", type=Path, default=None, help="also write the summary table to FILE"
    )
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
    try:
        workloads = expand_workloads(_csv(args.workloads or ",".join(WORKLOADS)))
    except ValueError as exc:
        parser.error(str(exc))
    modes = _csv(args.modes or ("legacy" if args.quick else ",".join(MODES)))
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
    sizes = args.overhead_nodes or ("10000" if args.quick else "10000,100000")
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
    skipped = langgraph_available()
    if skipped is not None:
        if any(spec.name == LANGGRAPH for spec in args.system_specs):
            console.print(f"  {skipped}")
        args.system_specs = [spec for spec in args.system_specs if spec.name != LANGGRAPH]
        meta["skipped"] = skipped
    if not args.no_emulator_throughput:
        rows = emulator_throughput.run(300 if args.quick else 5000)
        meta["emulator_throughput"] = rows
        print_throughput(console, rows)
    if not args.no_overhead:
        sizes = sorted({1_000, *args.overhead_sizes})
        meta["overhead"] = {
            "lease_settle": overhead.lease_settle_cost(2_000 if args.quick else 20_000),
            "admission": overhead.admission_cost(sizes, samples=1_000 if args.quick else 5_000),
            "scheduler": [
                overhead.scheduler_cost(n, queued=i == 0 and not args.quick)
                for i, n in enumerate(args.overhead_sizes)
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
    lines = details(records)
    if lines:
        console.rule("Workload details (W5 groups, W8 episodes, W9 predictions)")
        for line in lines:
            console.print(f"  {line}", highlight=False)
    table = markdown_table(summarise(records))
    meta["markdown"] = table
    if args.markdown is not None:
        args.markdown.write_text(table)
    meta["determinism"] = _determinism(console, specs, records, args.noop_cycles)
    console.rule("Targets (dagwright, critical_path policy)")
    verdicts = evaluate(summaries) + evaluate_groups(records)
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
        rows = [r.to_json() for r in records]
        rows += overhead.overhead_records(meta.get("overhead", {}), meta.get("emulator_throughput"))
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
        meta_path = args.json.with_suffix(".meta.json")
        meta_path.write_text(json.dumps(meta, indent=1, default=str) + "\n")
        console.print(f"  wrote {args.json} ({len(rows)} records) and {meta_path}")
    return 0
