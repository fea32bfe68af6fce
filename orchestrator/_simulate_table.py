"""How `dagwright simulate` shows its scenarios: one rich table, a column per scenario,
then the assumptions every number rests on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from orchestrator.simulate import Simulation

__all__ = ["duration", "print_simulations"]

_TERM_NAMES = {
    "critical_path": "critical path",
    "requests": "requests (RPM)",
    "input": "input tokens (ITPM)",
    "output": "output tokens (OTPM)",
}


def duration(seconds: float) -> str:
    """`42.0s`, `12m 05s`, `3h 07m`."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _limits(sim: Simulation) -> str:
    return "\n".join(
        f"{cls}: {lim.rpm:,} / {lim.itpm:,} / {lim.otpm:,}" for cls, lim in sim.limits.items()
    )


def _table(sims: Sequence[Simulation]) -> Table:
    table = Table(title="dagwright simulate", title_justify="left", show_lines=False)
    table.add_column("", style="bold", no_wrap=True)
    for sim in sims:
        table.add_column(sim.label, justify="right")

    def row(name: str, cells: Sequence[str]) -> None:
        table.add_row(name, *cells)

    row("predicted makespan", [duration(s.makespan_s) for s in sims])
    row("lower bound", [duration(s.bound.value) for s in sims])
    row(
        "makespan / bound",
        [f"{s.makespan_s / s.bound.value:.2f}x" if s.bound.value else "-" for s in sims],
    )
    row("binding limit", [_TERM_NAMES[s.binding] for s in sims])
    for term, name in _TERM_NAMES.items():
        row(f"  bound: {name}", [duration(s.bound.parts[term]) for s in sims])  # type: ignore[index]
    row("input utilisation", [f"{s.input_utilisation:.0%}" for s in sims])
    row("output utilisation", [f"{s.output_utilisation:.0%}" for s in sims])
    models = sorted({m.model for s in sims for m in s.models})
    for model in models:
        cells_tokens, cells_cost = [], []
        for sim in sims:
            found = next((m for m in sim.models if m.model == model), None)
            if found is None:
                cells_tokens.append("-")
                cells_cost.append("-")
                continue
            cells_tokens.append(f"{found.input_tokens:,} in / {found.output_tokens:,} out")
            cells_cost.append(f"${found.cost_usd:.4f}")
        row(f"{model} tokens", cells_tokens)
        row(f"{model} cost", cells_cost)
    row("total cost", [f"${s.cost_usd:.4f}" for s in sims])
    row("limits rpm/itpm/otpm", [_limits(s) for s in sims])
    row("accounting", [s.mode for s in sims])
    row("status", [s.status for s in sims])
    row("simulated in", [f"{s.wall_s:.1f}s wall" for s in sims])
    return table


def print_simulations(sims: Sequence[Simulation], console: Console) -> None:
    """The table, the assumptions and where each run's files are."""
    console.print(_table(sims))
    first = sims[0]
    sources = Counter(size.source for size in first.sizes.values())
    counts = ", ".join(f"{n} {src}" for src, n in sorted(sources.items()))
    console.print("assumptions:", style="bold")
    console.print(f"  output sizes: {first.sizes_rule} ({counts})")
    for cls, lat in first.latency.items():
        console.print(
            f"  latency {cls}: first token {lat.ttft:g}s + {lat.prefill_per_token:g}s per input"
            f" token, {lat.tokens_per_second:g} output tokens/s, jitter ±{lat.jitter:.0%}"
        )
    console.print(
        "  tools are not called (one model turn per task); no injected faults: 429s come"
        " only from the limits"
    )
    console.print(
        "  (change with --output-tokens/--output-fraction, --ttft/--tps/--jitter)", style="dim"
    )
    for sim in sims:
        where = f"  {sim.label}: {sim.run_dir}"
        if sim.report is not None:
            where += f" (report: {sim.report})"
        elif sim.report_error is not None:
            where += f" (no report: {sim.report_error})"
        console.print(where)
        if sim.reason:
            console.print(f"    stopped: {sim.reason}")
