"""`ReportData` -> one self-contained HTML page (tables here, charts by the inline script).

Everything that comes from the run (task ids, models, errors, the workflow's name) is
untrusted text: it is HTML-escaped in the tables, and the chart data is embedded as JSON
with `<`, `>` and `&` written as escapes, so no value can close the script element.
"""

from __future__ import annotations

import html
import json
from typing import Any

from orchestrator._report_data import ReportData, TaskRow
from orchestrator._report_script import SCRIPT, STYLE

__all__ = ["chart_json", "render_html"]


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _secs(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.2f}s" if value < 100 else f"{value:.0f}s"


def _int(value: int) -> str:
    return f"{value:,}"


def _usd(value: float) -> str:
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def chart_json(data: ReportData) -> str:
    """The charts' data as JSON that is safe inside a `<script>` element."""
    blob: dict[str, Any] = {
        "makespan": round(data.makespan_s, 4),
        "critical_path": list(data.critical_path),
        "tasks": [
            {
                "id": t.id,
                "status": t.status,
                "critical": t.critical,
                "earlier": t.earlier_session,
                "start": round(t.started_at or 0.0, 4),
                "end": round(t.finished_at or 0.0, 4),
                "waited": round(t.waited_s, 4),
                "attempts": t.attempts,
                "spans": [[s.kind, round(s.start, 4), round(s.end, 4)] for s in t.spans],
                "errors": [round(at, 4) for at in t.error_times],
            }
            for t in data.tasks
        ],
        "buckets": [
            {
                "cls": b.model_class,
                "bucket": b.bucket,
                "capacity": b.capacity,
                "rate": b.rate,
                "t": list(b.times),
                "u": list(b.in_use),
            }
            for b in data.buckets
        ],
    }
    text = json.dumps(blob, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _card(value: str, label: str) -> str:
    return f"<div><b>{value}</b><span>{_e(label)}</span></div>"


def _summary(data: ReportData) -> str:
    done = sum(1 for t in data.tasks if t.status == "succeeded")
    cards = [
        _card(_e(_secs(data.makespan_s)), "makespan"),
    ]
    if data.lower_bound is not None:
        lb = data.lower_bound
        ratio = data.makespan_s / lb.value if lb.value > 0 else float("inf")
        cards.append(
            _card(
                f"{_e(_secs(lb.value))} ({ratio:.2f}x)",
                f"lower bound ({lb.binding.replace('_', ' ')}, {lb.model_class})",
            )
        )
    cards += [
        _card(f"{done} / {len(data.tasks)}", "tasks succeeded"),
        _card(_int(data.input_tokens), "input tokens (uncached)"),
        _card(_int(data.cache_read_tokens), "cache-read tokens"),
        _card(_int(data.output_tokens), "output tokens"),
        _card(_e(_usd(data.cost_usd)), "cost"),
        _card(_int(data.calls_rate_limited), "429s (rate limited)"),
        _card(_int(data.retries), "retries"),
        _card(_int(data.call_errors), "failed calls"),
    ]
    return '<div class="summary">' + "".join(cards) + "</div>"


def _critical(data: ReportData) -> str:
    if not data.critical_path:
        return "<p>No task finished, so there is no critical path.</p>"
    rows = {t.id: t for t in data.tasks}
    parts = []
    for task_id in data.critical_path:
        row = rows.get(task_id)
        took = ""
        if row is not None and row.started_at is not None and row.finished_at is not None:
            took = f" ({_secs(row.finished_at - row.started_at)})"
        parts.append(f"<code>{_e(task_id)}</code>{_e(took)}")
    return (
        '<p id="critical-path">The chain that set the makespan (each task waited on the one '
        "before it): " + " &rarr; ".join(parts) + "</p>"
    )


def _task_row(t: TaskRow) -> str:
    cells = [
        _e(t.id),
        _e(t.status),
        _e(t.model or ""),
        _e(_secs(t.started_at)),
        _e(_secs(t.finished_at)),
        _e(_secs(t.waited_s)),
        str(t.attempts),
        str(t.retries),
        str(t.rate_limited),
        _int(t.input_tokens),
        _int(t.cache_read_tokens),
        _int(t.output_tokens),
        _e(_usd(t.cost_usd)),
    ]
    tds = "".join(f"<td>{c}</td>" for c in cells)
    error = f'<td class="error">{_e(t.error)}</td>' if t.error else "<td></td>"
    css = ' class="critical"' if t.critical else ""
    return f"<tr{css}>{tds}{error}</tr>"


def _tasks_table(data: ReportData) -> str:
    head = (
        "task",
        "status",
        "model",
        "start",
        "end",
        "waited",
        "attempts",
        "retries",
        "429s",
        "input",
        "cache read",
        "output",
        "cost",
        "error",
    )
    ths = "".join(f"<th>{h}</th>" for h in head)
    body = "".join(_task_row(t) for t in data.tasks)
    return f'<table id="tasks"><thead><tr>{ths}</tr></thead><tbody>{body}</tbody></table>'


def _models_table(data: ReportData) -> str:
    if not data.models:
        return "<p>No model calls were recorded.</p>"
    head = ("model", "tasks", "input", "cache read", "cache write", "output", "cost")
    ths = "".join(f"<th>{h}</th>" for h in head)
    rows = []
    for m in data.models:
        cells = (
            _e(m.model),
            str(m.tasks),
            _int(m.input_tokens),
            _int(m.cache_read_tokens),
            _int(m.cache_write_tokens),
            _int(m.output_tokens),
            _e(_usd(m.cost_usd)),
        )
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f'<table id="models"><thead><tr>{ths}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


_GANTT_LEGEND = (
    '<p class="legend"><i class="span-run" style="background:#3b7dd8"></i>running a call'
    '<i style="background:#f0b429"></i>waiting for budget'
    '<i style="background:#d64545"></i>retry backoff'
    '<i style="border:2px solid #b4232f;height:6px"></i>critical path'
    '<i style="background:#1d2330;width:3px"></i>failed call (429, 5xx...)</p>'
)
_BUDGET_LEGEND = (
    '<p class="legend">Share of each bucket in use (capacity minus what is available; '
    "100% = empty, so new calls wait; above 100% = debt)."
    '<i style="background:#7a4fd0"></i>requests'
    '<i style="background:#2f9e6e"></i>input tokens'
    '<i style="background:#d9682b"></i>output tokens</p>'
)


def render_html(data: ReportData) -> str:
    """The report page: summary, Gantt chart, budget charts, task and model tables."""
    subtitle = " &middot; ".join(
        _e(part)
        for part in (
            f"run {data.run_id}",
            f"status {data.status}",
            f"policy {data.policy}" if data.policy else "",
            data.backend,
        )
        if part
    )
    notes = []
    if data.reason:
        notes.append(f"<p><b>Stopped:</b> {_e(data.reason)}</p>")
    if data.sessions > 1:
        notes.append(
            f"<p>This run was resumed: it ran in {data.sessions} sessions. Times are from "
            "the start of the session that ran each task; tasks of earlier sessions are faded."
            "</p>"
        )
    budget_note = "" if data.buckets else "<p>No budget samples were recorded for this run.</p>"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dagwright run report: {_e(data.workflow)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>Run report: {_e(data.workflow)}</h1>
<p class="sub">{subtitle}</p>
{"".join(notes)}
{_summary(data)}
<h2>Timeline</h2>
{_GANTT_LEGEND}
<div id="gantt" class="chart" data-drawn="false"></div>
<noscript><p>The charts need JavaScript; the tables below have the same numbers.</p></noscript>
<h2>Critical path</h2>
{_critical(data)}
<h2>Budget utilisation</h2>
{_BUDGET_LEGEND}
{budget_note}
<div id="budget" class="chart" data-drawn="false"></div>
<h2>Tasks</h2>
{_tasks_table(data)}
<h2>Tokens and cost per model</h2>
{_models_table(data)}
<script type="application/json" id="report-data">{chart_json(data)}</script>
<script>{SCRIPT}</script>
</body>
</html>
"""
