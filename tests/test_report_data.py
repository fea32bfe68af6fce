"""The run report's data, checked against what the emulator and the journal say.

One rate-limited fan-in run on the emulator (virtual time) with 30% injected 429s; the
report must agree with the emulator's own counters and with the run's journal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from report_run_helpers import FAN, in_virtual_time, make_run

from agents.usage import Usage
from orchestrator._report_data import report_data
from orchestrator.journal import JOURNAL_FILE, Journal, RunInfo, TaskRecord
from orchestrator.report import REPORT_FILE, ReportData, build_report


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("report-run")
    run_dir, result, stats = in_virtual_time(lambda: make_run(tmp, rate_limit_429=0.3))
    assert result.status == "succeeded", result.reason
    return run_dir, stats


@pytest.fixture(scope="module")
def report(faulty_run: tuple[Path, dict[str, Any]]) -> ReportData:
    return build_report(faulty_run[0])


def test_launch_wrote_the_report(faulty_run: tuple[Path, dict[str, Any]]) -> None:
    page = (faulty_run[0] / REPORT_FILE).read_text(encoding="utf-8")
    assert "report-fan-in" in page
    assert 'id="gantt"' in page


def test_spans_tile_each_task_and_waits_match_the_journal(
    faulty_run: tuple[Path, dict[str, Any]], report: ReportData
) -> None:
    with Journal.open(faulty_run[0] / JOURNAL_FILE, read_only=True) as journal:
        records = journal.records()
    assert [t.id for t in report.tasks] == [*(f"part-{i}" for i in range(FAN)), "join"]
    for row in report.tasks:
        record = records[row.id]
        assert row.spans, row.id
        assert row.spans[0].start == pytest.approx(record.started_at)
        assert row.spans[-1].end == pytest.approx(record.finished_at)
        for before, after in zip(row.spans, row.spans[1:], strict=False):
            assert before.end == pytest.approx(after.start), row.id
        waited = sum(s.end - s.start for s in row.spans if s.kind == "wait")
        # Waits under 1 ms are not reported as events; everything else is accounted for.
        assert waited == pytest.approx(record.waited_s, abs=1e-3 * row.attempts), row.id
        assert row.spans[-1].kind == "run"
    # The input limit lets about five prompts through at once: the rest waited for budget.
    assert sum(1 for t in report.tasks if t.waited_s > 1.0) >= FAN // 2


def test_counts_match_the_emulator(
    faulty_run: tuple[Path, dict[str, Any]], report: ReportData
) -> None:
    stats = faulty_run[1]
    assert stats["responses"].get("429", 0) > 0, "the seed must meet some 429s"
    assert report.calls_rate_limited == stats["responses"]["429"]
    assert report.call_errors == stats["responses"]["429"]
    for row in report.tasks:
        # One call per task: every extra attempt is a retry after a 429.
        assert row.retries == row.attempts - 1 == row.rate_limited, row.id
    assert report.retries == sum(t.attempts - 1 for t in report.tasks)
    assert report.input_tokens == stats["tokens"]["input"]
    assert report.output_tokens == stats["tokens"]["output"]
    assert report.cost_usd == pytest.approx(stats["spend_usd"], abs=1e-5)
    (model,) = report.models
    assert model.model == "claude-haiku-4-5"
    assert model.tasks == FAN + 1
    assert model.input_tokens == report.input_tokens


def test_summary_matches_result_json(
    faulty_run: tuple[Path, dict[str, Any]], report: ReportData
) -> None:
    summary = json.loads((faulty_run[0] / "result.json").read_text(encoding="utf-8"))
    assert report.makespan_s == pytest.approx(summary["makespan_s"])
    assert report.status == summary["status"] == "succeeded"
    assert report.sessions == 1
    assert report.workflow == "report-fan-in"


def test_critical_path_is_the_join_after_the_last_part(report: ReportData) -> None:
    parts = [t for t in report.tasks if t.id != "join"]
    last = max(parts, key=lambda t: t.finished_at or 0.0)
    assert report.critical_path == (last.id, "join")
    assert {t.id for t in report.tasks if t.critical} == {last.id, "join"}


def test_input_bucket_runs_dry_and_refills(report: ReportData) -> None:
    series = {(b.model_class, b.bucket): b for b in report.buckets}
    assert set(series) == {
        ("haiku-4", "requests"),
        ("haiku-4", "input_tokens"),
        ("haiku-4", "output_tokens"),
    }
    inputs = series[("haiku-4", "input_tokens")]
    assert inputs.capacity == 2000
    assert inputs.times == tuple(sorted(inputs.times))
    assert inputs.times[-1] == pytest.approx(report.makespan_s, abs=0.01)
    # The binding bucket is drawn down to (nearly) empty; requests never come close.
    assert max(inputs.in_use) > 0.9
    assert max(series[("haiku-4", "requests")].in_use) < 0.5


def test_lower_bound_is_below_the_makespan(report: ReportData) -> None:
    bound = report.lower_bound
    assert bound is not None
    assert bound.model_class == "haiku-4"
    assert bound.binding == "input"
    # ~3,300 input tokens through a 2,000-token bucket refilling 33.3/s: >= ~40 s.
    assert 35.0 < bound.value <= report.makespan_s


# Pure: a resumed run's two sessions ----------------------------------------------------


def _record(task_id: str, start: float, end: float, waited: float = 0.0) -> TaskRecord:
    return TaskRecord(
        task_id=task_id,
        status="succeeded",
        usage=Usage(input_tokens=100, output_tokens=10),
        cost_usd=0.001,
        attempts=1,
        model="claude-haiku-4-5",
        started_at=start,
        finished_at=end,
        waited_s=waited,
    )


def test_a_resumed_run_times_each_task_from_its_own_session() -> None:
    spec = {"name": "two", "tasks": [{"id": "a"}, {"id": "b", "depends_on": ["a"]}]}
    info = RunInfo(
        run_id="r",
        workflow_name="two",
        spec_json=json.dumps(spec),
        inputs={},
        meta={"policy": "critical_path"},
        status="finished",
        created_at=0.0,
    )
    # Session clocks are unrelated (another process): 1000 s, then 50 s.
    events = [
        {"event": "run.started", "at": 1000.0},
        {"event": "task.started", "at": 1000.0, "task_id": "a"},
        {"event": "task.finished", "at": 1002.0, "task_id": "a"},
        {"event": "run.started", "at": 50.0},
        {"event": "task.started", "at": 50.0, "task_id": "b"},
        {"event": "budget.waiting", "at": 51.5, "task_id": "b", "waited_s": 1.5},
        {"event": "call.error", "at": 52.0, "task_id": "b", "status": 429},
        {"event": "task.retry", "at": 52.0, "task_id": "b", "delay_s": 0.5},
        {"event": "task.finished", "at": 53.0, "task_id": "b"},
        {"event": "run.finished", "at": 53.0, "status": "succeeded", "makespan_s": 3.0},
    ]
    records = {"a": _record("a", 0.0, 2.0), "b": _record("b", 0.0, 3.0, waited=1.5)}
    data = report_data(info=info, records=records, events=events)
    a, b = data.tasks
    assert data.sessions == 2
    assert (a.earlier_session, b.earlier_session) == (True, False)
    assert [(s.kind, s.start, s.end) for s in b.spans] == [
        ("wait", 0.0, 1.5),
        ("run", 1.5, 2.0),
        ("backoff", 2.0, 2.5),
        ("run", 2.5, 3.0),
    ]
    assert b.error_times == (2.0,)
    assert (b.retries, b.rate_limited, data.calls_rate_limited) == (1, 1, 1)
    # Only the last session's tasks make its critical path; no bound across sessions.
    assert data.critical_path == ("b",)
    assert data.lower_bound is None
    assert data.makespan_s == 3.0
    assert data.models[0].tasks == 2
    assert data.input_tokens == 200


def test_children_of_an_expanding_task_join_its_path() -> None:
    spec = {"name": "team", "tasks": [{"id": "plan"}, {"id": "report", "depends_on": ["plan"]}]}
    info = RunInfo(
        run_id="r",
        workflow_name="team",
        spec_json=json.dumps(spec),
        inputs={},
        meta={},
        status="finished",
        created_at=0.0,
    )
    plan = {"tasks": [{"id": "x"}, {"id": "y", "depends_on": ["x"]}, {"id": "z"}]}
    records = {
        "plan": _record("plan", 0.0, 5.0),
        "plan.x": _record("plan.x", 0.1, 2.0),
        "plan.z": _record("plan.z", 0.1, 3.0),
        "plan.y": _record("plan.y", 2.0, 4.9),
        "report": _record("report", 5.0, 6.0),
    }
    events = [{"event": "run.started", "at": 0.0}] + [
        {"event": "task.started", "at": r.started_at, "task_id": t} for t, r in records.items()
    ]
    data = report_data(info=info, records=records, events=events, expansions={"plan": plan})
    assert [t.id for t in data.tasks] == ["plan", "plan.x", "plan.y", "plan.z", "report"]
    assert data.critical_path == ("plan.x", "plan.y", "plan", "report")
    assert dict((t.id, t.depends_on) for t in data.tasks)["plan.y"] == ("plan.x",)
