"""Printing results: per (workload, mode) tables of the systems, and the targets' verdicts."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.record import Record

__all__ = [
    "REFERENCE",
    "Summary",
    "details",
    "markdown_table",
    "print_overhead",
    "print_results",
    "print_throughput",
    "summarise",
]

#: The system every other one is compared with.
REFERENCE = "dagwright/critical_path"


@dataclass(frozen=True, kw_only=True, slots=True)
class Summary:
    """One system on one (workload, mode), over its seeds."""

    workload: str
    mode: str
    label: str
    runs: int
    mean_ratio: float
    max_ratio: float
    mean_makespan: float
    mean_lb: float
    binding: str
    n_429: int
    n_529: int
    lost: int
    out_util: float
    in_util: float
    in_tokens: float
    wasted: float | None
    cost_usd: float
    vs_reference: float | None

    @property
    def complete(self) -> bool:
        """True when no run lost a task."""
        return self.lost == 0


def summarise(records: Sequence[Record]) -> list[Summary]:
    """Group by (workload, mode, system label), in first-seen order."""
    groups: dict[tuple[str, str, str], list[Record]] = {}
    for record in records:
        groups.setdefault((record.workload, record.mode, record.label), []).append(record)
    reference = {
        (w, m): statistics.fmean(r.makespan_s for r in rs)
        for (w, m, label), rs in groups.items()
        if label == REFERENCE
    }
    out = []
    for (workload, mode, label), rs in groups.items():
        mean_makespan = statistics.fmean(r.makespan_s for r in rs)
        ref = reference.get((workload, mode))
        wasted = [r.wasted_reservation for r in rs if r.wasted_reservation is not None]
        bindings = [r.binding for r in rs]
        out.append(
            Summary(
                workload=workload,
                mode=mode,
                label=label,
                runs=len(rs),
                mean_ratio=statistics.fmean(r.ratio for r in rs),
                max_ratio=max(r.ratio for r in rs),
                mean_makespan=mean_makespan,
                mean_lb=statistics.fmean(r.lower_bound_s for r in rs),
                binding=max(set(bindings), key=bindings.count),
                n_429=sum(r.n_429 for r in rs),
                n_529=sum(r.n_529 for r in rs),
                lost=sum(r.lost_tasks for r in rs),
                out_util=statistics.fmean(r.out_util for r in rs),
                in_util=statistics.fmean(r.in_util for r in rs),
                in_tokens=statistics.fmean(r.in_tokens_counted for r in rs),
                wasted=statistics.fmean(wasted) if wasted else None,
                cost_usd=statistics.fmean(r.cost_usd for r in rs),
                vs_reference=mean_makespan / ref if ref else None,
            )
        )
    return out


def print_results(console: Console, records: Sequence[Record]) -> list[Summary]:
    """One table per (workload, mode); returns the summaries."""
    summaries = summarise(records)
    keys = list(dict.fromkeys((s.workload, s.mode) for s in summaries))
    for workload, mode in keys:
        rows = [s for s in summaries if (s.workload, s.mode) == (workload, mode)]
        first = rows[0]
        title = (
            f"{workload}, {mode} accounting{' + throttle' if mode == 'actual' else ''}: "
            f"LB {first.mean_lb:,.1f} s (binding: {first.binding}), {first.runs} seed(s)"
        )
        table = Table(title=title, title_justify="left")
        for name, justify in (
            ("system", "left"),
            ("makespan/LB mean", "right"),
            ("max", "right"),
            ("makespan s", "right"),
            ("429s", "right"),
            ("529s", "right"),
            ("lost", "right"),
            ("out util", "right"),
            ("in util", "right"),
            ("ITPM input", "right"),
            ("wasted reserv.", "right"),
            ("$ / run", "right"),
            ("makespan vs dagwright", "right"),
        ):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for s in rows:
            versus = (
                "" if s.vs_reference is None or s.label == REFERENCE else f"{s.vs_reference:.2f}x"
            )
            if versus and not s.complete:
                versus += " (incomplete)"
            table.add_row(
                s.label,
                f"{s.mean_ratio:.3f}" + ("" if s.complete else "*"),
                f"{s.max_ratio:.3f}",
                f"{s.mean_makespan:,.1f}",
                f"{s.n_429:,}",
                f"{s.n_529:,}",
                f"{s.lost:,}",
                f"{s.out_util:.2f}",
                f"{s.in_util:.2f}",
                f"{s.in_tokens / 1000:,.0f}k",
                "-" if s.wasted is None else f"{s.wasted:,.0f}",
                f"{s.cost_usd:.2f}",
                versus,
            )
        console.print(table)
    if any(not s.complete for s in summaries):
        console.print(
            "* lost tasks: the run gave up on some nodes, so its makespan is not the time to "
            "finish the DAG (the ratio is against the whole DAG's bound)."
        )
    return summaries


def print_throughput(console: Console, rows: Sequence[dict[str, Any]]) -> None:
    """The emulator's requests per second (real time)."""
    console.rule("Emulator throughput (real time, in-process)")
    for row in rows:
        console.print(
            f"  {row['name']:<34} {row['rps']:>7,.0f} requests/s"
            f"  ({row['cpu_rps']:,.0f} per CPU-second, n={row['n']})"
        )


def print_overhead(console: Console, overhead: dict[str, Any]) -> None:
    """Budget and scheduler CPU cost (real time)."""
    console.rule("Overhead (real time, CPU; no model behind it)")
    lease = overhead.get("lease_settle")
    if lease:
        console.print(
            f"  lease + settle, never waiting: p50 {lease['p50_us']:.1f} us, "
            f"p99 {lease['p99_us']:.1f} us, mean CPU {lease['cpu_mean_us']:.1f} us "
            f"(n={lease['n']:,})"
        )
    for row in overhead.get("admission", []):
        console.print(
            f"  admission with {row['waiting']:>7,} waiting (critical_path heap): "
            f"admit p50 {row['admit_p50_us']:.1f} us / p99 {row['admit_p99_us']:.1f} us; "
            f"enqueue p50 {row['enqueue_p50_us']:.1f} us / p99 {row['enqueue_p99_us']:.1f} us"
        )
    for row in overhead.get("scheduler", []):
        parts = [
            f"runner only {row['runner_only_us']:.0f} us",
            f"+ budget + caller + ScriptedLLM {row['runner_budget_scripted_us']:.0f} us",
        ]
        if "runner_budget_queued_us" in row:
            parts.append(
                f"same under tier-2 limits, queued in virtual time "
                f"{row['runner_budget_queued_us']:.0f} us"
            )
        console.print(f"  scheduler CPU per node, {row['nodes']:,}-node DAG: " + "; ".join(parts))


def markdown_table(summaries: Sequence[Summary]) -> str:
    """Workload x system as one markdown table (means over seeds)."""
    lines = [
        "| workload | mode | system | makespan/LB (max) | makespan s | 429s | lost "
        "| out util | $ / run |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        ratio = f"{s.mean_ratio:.3f} ({s.max_ratio:.3f})" + ("" if s.complete else "*")
        lines.append(
            f"| {s.workload} | {s.mode} | {s.label} | {ratio} | {s.mean_makespan:,.1f} "
            f"| {s.n_429:,} | {s.lost:,} | {s.out_util:.2f} | {s.cost_usd:.2f} |"
        )
    if any(not s.complete for s in summaries):
        lines.append("")
        lines.append("\\* lost tasks: the run gave up on some nodes (ratio against the whole DAG).")
    return "\n".join(lines) + "\n"


def details(records: Sequence[Record]) -> list[str]:
    """Per-run lines for the workloads with figures of their own: groups (W5), 429
    episodes where a 429 occurred (W8), and predicted makespans (W9)."""
    out: list[str] = []
    for r in records:
        head = f"{r.workload} {r.mode} seed {r.seed} {r.label}:"
        groups = r.notes.get("groups") or {}
        for name, g in groups.items():
            part = (
                f"{head} {name} ({g['nodes']} nodes, released at {g['release_s']:g} s) "
                f"finished at {_s(g['finished_at_s'])}, LB {g['lower_bound_s']:.1f} s "
                f"-> {_x(g['ratio'])} LB"
            )
            if "alone_makespan_s" in g:
                part += (
                    f"; makespan {_s(g['makespan_s'])} vs {g['alone_makespan_s']:.1f} s alone "
                    f"({_x(g.get('vs_alone'))})"
                )
            out.append(part)
        if r.workload == "W8":
            out.append(
                f"{head} {r.n_429} 429s in {r.notes.get('n_429_episodes', 0)} episode(s), "
                f"{r.n_529} 529s, {r.lost_tasks} lost node(s), makespan {r.makespan_s:.1f} s "
                f"= {r.ratio:.3f} LB; 429s by limit {r.notes.get('emulator_429_by_limit')}"
            )
        prediction = r.notes.get("prediction")
        if prediction:
            out.append(
                f"{head} predicted: predict() critical path "
                f"{prediction['predict_critical_path_s']:.1f} s (Opus latency "
                f"{prediction['predict_critical_path_opus_s']:.1f} s), lower bound from "
                f"declared sizes {prediction['predicted_lb_s']:.1f} s "
                f"({prediction['predicted_binding']}); measured {r.makespan_s:.1f} s "
                f"(LB with real sizes {r.lower_bound_s:.1f} s)"
            )
    return out


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}x"
