"""What the run report shows, computed from a run's records and events (no files, no HTML).

`report_data` is a pure function of what a run folder holds: the journal's run info and
task records, the `events.jsonl` lines and `result.json` (when written). Times are seconds
since the run (or, for a resumed run, the session that ran the task) started.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from orchestrator._report_budget import BucketSeries, bucket_series
from orchestrator.journal import RunInfo, TaskRecord
from orchestrator.limits import ModelLimits, model_class
from orchestrator.lowerbound import DagNode, lower_bound

__all__ = [
    "BucketSeries",
    "LowerBoundInfo",
    "ModelRow",
    "ReportData",
    "Span",
    "TaskRow",
    "report_data",
]

SpanKind = Literal["wait", "run", "backoff"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Span:
    """Part of a task's time: waiting for budget, running a call, or backing off a retry."""

    kind: SpanKind
    start: float
    end: float


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskRow:
    """One task as the report shows it."""

    id: str
    status: str
    model: str | None
    depends_on: tuple[str, ...]
    started_at: float | None
    finished_at: float | None
    waited_s: float
    attempts: int
    retries: int
    rate_limited: int
    call_errors: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float
    critical: bool
    earlier_session: bool
    error: str | None
    spans: tuple[Span, ...]
    error_times: tuple[float, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelRow:
    """Totals of the tasks that ran on one model."""

    model: str
    tasks: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float


@dataclass(frozen=True, kw_only=True, slots=True)
class LowerBoundInfo:
    """The makespan lower bound with the run's own token counts and call latencies."""

    value: float
    binding: str
    model_class: str
    mode: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportData:
    """Everything the run report shows."""

    run_id: str
    workflow: str
    status: str
    reason: str | None
    backend: str
    policy: str
    makespan_s: float
    tasks: tuple[TaskRow, ...]
    models: tuple[ModelRow, ...]
    buckets: tuple[BucketSeries, ...]
    critical_path: tuple[str, ...]
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float
    calls_rate_limited: int
    retries: int
    call_errors: int
    sessions: int
    lower_bound: LowerBoundInfo | None


@dataclass(kw_only=True)
class _TaskEvents:
    """What the events say about one task, in its latest session."""

    session: int
    started: float
    spans: list[Span]
    error_times: list[float] = field(default_factory=list)
    retries: int = 0
    rate_limited: int = 0
    call_errors: int = 0


def _spec_tasks(spec_json: str) -> list[dict[str, Any]]:
    try:
        spec = json.loads(spec_json) if spec_json else {}
    except ValueError:
        return []
    tasks = spec.get("tasks") if isinstance(spec, dict) else None
    return [t for t in tasks if isinstance(t, dict)] if isinstance(tasks, list) else []


def _dependencies(
    spec_tasks: Sequence[Mapping[str, Any]], expansions: Mapping[str, Any]
) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """Each task's dependencies, and the order to show tasks in: the spec's, with the
    children of an expanding task (`<parent>.<child>`, from its plan) right after it."""
    deps: dict[str, tuple[str, ...]] = {}
    children: dict[str, list[str]] = {}
    for task in spec_tasks:
        if "id" in task:
            deps[str(task["id"])] = tuple(str(d) for d in task.get("depends_on") or ())
    for parent, plan in expansions.items():
        planned = plan.get("tasks") if isinstance(plan, Mapping) else None
        for task in planned if isinstance(planned, list) else ():
            if not isinstance(task, Mapping) or "id" not in task:
                continue
            child = f"{parent}.{task['id']}"
            deps[child] = tuple(f"{parent}.{d}" for d in task.get("depends_on") or ())
            children.setdefault(parent, []).append(child)
        # An expanding task ends after its children: on the critical path it waits on them.
        deps[parent] = (*deps.get(parent, ()), *children.get(parent, ()))
    order: list[str] = []

    def place(task_id: str) -> None:
        if task_id in order:
            return
        order.append(task_id)
        for child in children.get(task_id, ()):
            place(child)

    for task_id in [str(t["id"]) for t in spec_tasks if "id" in t] + sorted(children):
        place(task_id)
    return deps, order


def _task_events(
    events: Sequence[Mapping[str, Any]],
) -> tuple[dict[str, _TaskEvents], int, float]:
    """Per task, the waits, backoffs and errors of its latest session; the session count;
    and the time the latest session's last event came (where cancelled tasks stopped)."""
    out: dict[str, _TaskEvents] = {}
    session = 0
    t0 = 0.0
    last = 0.0
    for event in events:
        name = event.get("event")
        at = float(event.get("at", 0.0))
        if name == "run.started":
            session += 1
            t0 = at
            continue
        last = max(last, at - t0)
        task_id = event.get("task_id")
        if not isinstance(task_id, str):
            continue
        now = at - t0
        if name == "task.started":
            out[task_id] = _TaskEvents(session=session, started=now, spans=[])
            continue
        info = out.get(task_id)
        if info is None:
            continue
        if name == "budget.waiting":
            waited = float(event.get("waited_s", 0.0))
            info.spans.append(Span(kind="wait", start=max(0.0, now - waited), end=now))
        elif name == "task.retry":
            info.retries += 1
            delay = float(event.get("delay_s", 0.0) or 0.0)
            if delay > 0:
                info.spans.append(Span(kind="backoff", start=now, end=now + delay))
        elif name == "call.error":
            info.call_errors += 1
            info.error_times.append(now)
            if event.get("status") == 429 or event.get("kind") == "rate_limited":
                info.rate_limited += 1
    return out, session, last


def _fill_running(start: float, end: float, gaps: Sequence[Span]) -> tuple[Span, ...]:
    """The waits and backoffs inside [start, end], with the time between them as running."""
    spans: list[Span] = []
    cursor = start
    for gap in sorted(gaps, key=lambda s: s.start):
        lo, hi = max(gap.start, cursor), min(gap.end, end)
        if hi <= lo:
            continue
        if lo > cursor:
            spans.append(Span(kind="run", start=cursor, end=lo))
        spans.append(Span(kind=gap.kind, start=lo, end=hi))
        cursor = hi
    if end > cursor:
        spans.append(Span(kind="run", start=cursor, end=end))
    return tuple(spans)


def _critical_path(
    records: Mapping[str, TaskRecord], deps: Mapping[str, tuple[str, ...]], session: set[str]
) -> tuple[str, ...]:
    """The chain that set the makespan: from the last task to finish, back through the
    dependency that finished last, until a task that waited on none."""

    def finish(task_id: str) -> float | None:
        record = records.get(task_id)
        if record is None or task_id not in session:
            return None
        return record.finished_at

    done = [t for t in session if finish(t) is not None]
    if not done:
        return ()
    current: str | None = max(done, key=lambda t: (finish(t) or 0.0, t))
    path: list[str] = []
    while current is not None and current not in path:
        path.append(current)
        upstream = [d for d in deps.get(current, ()) if finish(d) is not None]
        current = max(upstream, key=lambda t: (finish(t) or 0.0, t)) if upstream else None
    return tuple(reversed(path))


def _lower_bound(
    rows: Sequence[TaskRow], limits: Mapping[str, ModelLimits], accounting: str
) -> LowerBoundInfo | None:
    """LB of the realised DAG when every task succeeded in one session on one model class."""
    classes = {model_class(r.model) for r in rows if r.model}
    if not rows or len(classes) != 1 or any(r.status != "succeeded" for r in rows):
        return None
    if any(r.earlier_session for r in rows):
        return None
    cls = classes.pop()
    if cls is None or cls not in limits:
        return None
    ids = {r.id for r in rows}
    successors: dict[str, list[str]] = {r.id: [] for r in rows}
    for row in rows:
        for dep in row.depends_on:
            if dep in ids:
                successors[dep].append(row.id)
    nodes = [
        DagNode(
            id=r.id,
            input_tokens=r.input_tokens + r.cache_write_tokens,
            output_tokens=r.output_tokens,
            latency=sum(s.end - s.start for s in r.spans if s.kind == "run"),
            successors=tuple(successors[r.id]),
        )
        for r in rows
    ]
    mode: Literal["legacy", "actual-throttle"] = (
        "legacy" if accounting == "legacy" else "actual-throttle"
    )
    try:
        bound = lower_bound(nodes, limits[cls], mode=mode)
    except ValueError:
        return None
    return LowerBoundInfo(value=bound.value, binding=bound.binding, model_class=cls, mode=mode)


def report_data(
    *,
    info: RunInfo,
    records: Mapping[str, TaskRecord],
    events: Sequence[Mapping[str, Any]],
    result: Mapping[str, Any] | None = None,
    limits: Mapping[str, ModelLimits] | None = None,
    accounting: str = "actual",
    expansions: Mapping[str, Any] | None = None,
) -> ReportData:
    """The report of one run; `limits` by model class enable the lower bound, and the
    journaled plans of expanding tasks (`expansions`, by task id) add their children."""
    deps, order = _dependencies(_spec_tasks(info.spec_json), expansions or {})
    order += sorted(t for t in records if t not in deps)
    per_task, sessions, session_end = _task_events(events)
    latest = {t for t, e in per_task.items() if e.session == sessions}
    critical = _critical_path(records, deps, latest or set(records))
    rows: list[TaskRow] = []
    for task_id in order:
        record = records.get(task_id)
        ev = per_task.get(task_id)
        spans: tuple[Span, ...] = ()
        start: float | None = None
        end: float | None = None
        status = "not run"
        if record is not None:
            start, end, status = record.started_at, record.finished_at, record.status
        elif ev is not None and ev.session == sessions:
            # Started, then cancelled (fail_fast, a deadline, Ctrl-C): no record was kept.
            start, end, status = ev.started, max(ev.started, session_end), "cancelled"
        if start is not None and end is not None:
            spans = _fill_running(start, end, ev.spans if ev is not None else [])
        usage = record.usage if record is not None else None
        rows.append(
            TaskRow(
                id=task_id,
                status=status,
                model=record.model if record is not None else None,
                depends_on=deps.get(task_id, ()),
                started_at=start,
                finished_at=end,
                waited_s=record.waited_s if record is not None else 0.0,
                attempts=record.attempts if record is not None else 0,
                retries=ev.retries if ev is not None else 0,
                rate_limited=ev.rate_limited if ev is not None else 0,
                call_errors=ev.call_errors if ev is not None else 0,
                input_tokens=usage.input_tokens if usage else 0,
                output_tokens=usage.output_tokens if usage else 0,
                cache_read_tokens=usage.cache_read_input_tokens if usage else 0,
                cache_write_tokens=usage.cache_creation_input_tokens if usage else 0,
                cost_usd=record.cost_usd if record is not None else 0.0,
                critical=task_id in critical,
                earlier_session=ev is not None and ev.session < sessions,
                error=record.error if record is not None else None,
                spans=spans,
                error_times=tuple(ev.error_times) if ev is not None and spans else (),
            )
        )
    models: dict[str, list[TaskRow]] = {}
    for row in rows:
        if row.model or row.input_tokens or row.output_tokens:
            # A task whose calls were not tied to one model (an expansion's plan) still
            # counts, so the per-model rows add up to the run's totals.
            models.setdefault(row.model or "(model not recorded)", []).append(row)
    model_rows = tuple(
        ModelRow(
            model=model,
            tasks=len(group),
            input_tokens=sum(r.input_tokens for r in group),
            output_tokens=sum(r.output_tokens for r in group),
            cache_read_tokens=sum(r.cache_read_tokens for r in group),
            cache_write_tokens=sum(r.cache_write_tokens for r in group),
            cost_usd=sum(r.cost_usd for r in group),
        )
        for model, group in sorted(models.items())
    )
    result = result or {}
    finished = [e for e in events if e.get("event") == "run.finished"]
    makespan = result.get("makespan_s")
    if makespan is None and finished:
        makespan = finished[-1].get("makespan_s")
    if makespan is None:
        makespan = max((r.finished_at or 0.0 for r in rows), default=0.0)
    run_status = result.get("status") or (finished[-1].get("status") if finished else None)
    reason = result.get("reason") or (finished[-1].get("reason") if finished else None)
    return ReportData(
        run_id=info.run_id,
        workflow=info.workflow_name,
        status=str(run_status or info.status),
        reason=str(reason) if reason else None,
        backend=str(result.get("backend") or ""),
        policy=str(info.meta.get("policy") or ""),
        makespan_s=float(makespan),
        tasks=tuple(rows),
        models=model_rows,
        buckets=bucket_series(events),
        critical_path=critical,
        input_tokens=sum(r.input_tokens for r in rows),
        output_tokens=sum(r.output_tokens for r in rows),
        cache_read_tokens=sum(r.cache_read_tokens for r in rows),
        cache_write_tokens=sum(r.cache_write_tokens for r in rows),
        cost_usd=sum(r.cost_usd for r in rows),
        calls_rate_limited=sum(r.rate_limited for r in rows),
        retries=sum(r.retries for r in rows),
        call_errors=sum(r.call_errors for r in rows),
        sessions=sessions,
        lower_bound=_lower_bound(rows, limits or {}, accounting),
    )
