"""The live run display: per-task state, per-bucket budget gauges, tokens and cost so far."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console, Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from orchestrator.budget import Budget
from orchestrator.events import Event

__all__ = ["LiveView", "PlainProgress"]

_STATE_STYLE = {
    "pending": "dim",
    "ready": "cyan",
    "waiting": "yellow",
    "running": "blue",
    "retrying": "magenta",
    "succeeded": "green",
    "failed": "bold red",
    "skipped": "dim red",
}
_MAX_ROWS = 30


@dataclass
class _Row:
    state: str = "pending"
    attempts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0


class LiveView:
    """Collects run events; `render()` draws the current table (for `rich.live.Live`)."""

    def __init__(self, task_ids: list[str], budget: Budget | None = None) -> None:
        self.rows = {t: _Row() for t in task_ids}
        self.budget = budget
        self.errors = 0

    def __call__(self, event: Event) -> None:
        name = event.name
        if name == "call.error":
            self.errors += 1
        task_id = event.task_id
        if task_id is None:
            return
        row = self.rows.get(task_id)
        if row is None:
            if name != "task.ready":
                return
            # A task that joined the graph during the run (a plan task's expansion).
            row = self.rows[task_id] = _Row()
        if name == "task.ready":
            row.state = "ready"
        elif name == "task.started":
            row.state = "running"
        elif name == "task.retry":
            row.state = "retrying"
        elif name == "task.finished":
            row.state = "succeeded"
            row.attempts = int(event.data.get("attempts") or 0)
            row.input_tokens = int(event.data.get("input_tokens") or 0)
            row.output_tokens = int(event.data.get("output_tokens") or 0)
            row.cost = float(event.data.get("cost_usd") or 0.0)
        elif name in ("task.failed", "task.skipped"):
            row.state = name.split(".")[1]

    def render(self) -> Group:
        """The task table and the budget gauges."""
        table = Table(expand=False, show_edge=False, pad_edge=False)
        for column in ("task", "state", "attempts", "in", "out", "cost $"):
            table.add_column(column, justify="right" if column not in ("task", "state") else "left")
        shown = sorted(self.rows.items(), key=lambda kv: _order(kv[1].state))[:_MAX_ROWS]
        for task_id, row in shown:
            table.add_row(
                task_id,
                Text(row.state, style=_STATE_STYLE.get(row.state, "")),
                str(row.attempts or ""),
                f"{row.input_tokens:,}" if row.input_tokens else "",
                f"{row.output_tokens:,}" if row.output_tokens else "",
                f"{row.cost:.4f}" if row.cost else "",
            )
        counts: dict[str, int] = {}
        for row in self.rows.values():
            counts[row.state] = counts.get(row.state, 0) + 1
        total_cost = sum(r.cost for r in self.rows.values())
        summary = Text(
            "  ".join(f"{state}: {n}" for state, n in sorted(counts.items()))
            + f"   cost so far: ${total_cost:.4f}   call errors: {self.errors}"
        )
        parts: list[Table | Text] = [table, summary]
        if len(self.rows) > _MAX_ROWS:
            parts.append(Text(f"({len(self.rows) - _MAX_ROWS} more tasks not shown)", style="dim"))
        parts.extend(self._gauges())
        return Group(*parts)

    def _gauges(self) -> list[Table]:
        if self.budget is None:
            return []
        grid = Table.grid(padding=(0, 1))
        for _ in range(3):
            grid.add_column()
        for model_class, stats in self.budget.statistics().items():
            for bucket_name in ("requests", "input_tokens", "output_tokens"):
                bucket = getattr(stats, bucket_name)
                capacity = max(1.0, float(bucket.capacity))
                available = max(0.0, float(bucket.available))
                grid.add_row(
                    Text(f"{model_class} {bucket_name}", style="bold"),
                    ProgressBar(total=capacity, completed=available, width=30),
                    Text(f"{available:,.0f} / {capacity:,.0f} available"),
                )
        return [grid]


def _order(state: str) -> int:
    return (
        [
            "running",
            "retrying",
            "waiting",
            "ready",
            "failed",
            "pending",
            "succeeded",
            "skipped",
        ].index(state)
        if state in _STATE_STYLE
        else 9
    )


class PlainProgress:
    """One line per finished or failed task, for terminals that cannot redraw (CI logs)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def __call__(self, event: Event) -> None:
        if event.name == "task.finished":
            self.console.print(
                f"  done   {event.task_id}  ({event.data.get('output_tokens', 0)} output tokens,"
                f" ${float(event.data.get('cost_usd') or 0):.4f})",
                highlight=False,
            )
        elif event.name in ("task.failed", "task.skipped"):
            reason = event.data.get("error") or event.data.get("reason") or ""
            verb = "FAILED" if event.name == "task.failed" else "skipped"
            self.console.print(f"  {verb} {event.task_id}: {reason}", highlight=False)
