"""`python -m benchmarks`: the quick defaults, JSON records (runs and overhead), the
markdown table, and B3 (LangGraph) when it is installed."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import structlog

from benchmarks import overhead
from benchmarks.cli import main, parse_args
from benchmarks.harness import RunSpec, run_one
from benchmarks.report import markdown_table, summarise
from benchmarks.systems import SystemSpec
from benchmarks.systems.langgraph_sys import available
from benchmarks.workloads import WORKLOADS

REQUIRED = {
    "workload",
    "system",
    "policy",
    "mode",
    "seed",
    "makespan_s",
    "lower_bound_s",
    "ratio",
    "n_429",
    "out_util",
    "cost_usd",
}


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))


def test_quick_runs_every_workload_in_legacy_mode() -> None:
    args = parse_args(["--quick"])
    assert args.workload_names == list(WORKLOADS)
    assert args.mode_names == ["legacy"] and args.seeds == 1
    assert [s.label for s in args.system_specs] == ["dagwright/critical_path", "B0-naive-r2"]
    full = parse_args([])
    assert full.mode_names == ["legacy", "actual"] and full.overhead_sizes == [10_000, 100_000]


def test_unknown_workload_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(["--workloads", "W1,W42"])
    assert exc.value.code == 2
    assert "unknown workload 'W42'" in capsys.readouterr().err


def test_json_records_and_markdown(tmp_path: Path) -> None:
    out, table = tmp_path / "bench.json", tmp_path / "bench.md"
    code = main(
        [
            "--workloads",
            "W2",
            "--systems",
            "dagwright/critical_path,B0-naive-r10",
            "--modes",
            "legacy",
            "--seeds",
            "1",
            "--no-emulator-throughput",
            "--no-overhead",
            "--json",
            str(out),
            "--markdown",
            str(table),
        ]
    )
    assert code == 0
    rows = json.loads(out.read_text())
    assert [(r["workload"], r["system"]) for r in rows] == [
        ("W2", "dagwright"),
        ("W2", "B0-naive-r10"),
    ]
    for row in rows:
        assert set(row) >= REQUIRED, REQUIRED - set(row)
        assert row["ratio"] >= 0.999 and row["cost_usd"] > 0
    text = table.read_text()
    assert text.startswith("| workload | mode | system | makespan/LB")
    assert "| W2 | legacy | dagwright/critical_path |" in text
    meta = json.loads(out.with_suffix(".meta.json").read_text())
    assert all(check["same"] for check in meta["determinism"]["checks"])


def test_overhead_records_have_the_required_keys() -> None:
    sched = [overhead.scheduler_cost(300, queued=False)]
    admission = overhead.admission_cost((300,), samples=50)
    rows = overhead.overhead_records(
        {"scheduler": sched, "admission": admission},
        [{"name": "emulator, anthropic SDK", "n": 10, "rps": 500.0, "cpu_rps": 800.0}],
    )
    assert [r["system"] for r in rows] == ["dagwright", "sdk+emulator"]
    for row in rows:
        assert row["workload"] == "overhead"
        assert set(row) >= REQUIRED and row["cpu_us_per_node"] > 0
    assert rows[0]["nodes"] == 300
    assert 0 < rows[0]["admission_p50_us"] <= rows[0]["admission_p99_us"]
    assert rows[1]["cpu_us_per_node"] == pytest.approx(1e6 / 800.0)


def test_markdown_table_marks_incomplete_runs() -> None:
    spec = RunSpec(workload="W3", system=SystemSpec(name="B0-naive-r2"), mode="legacy", seed=0)
    record = run_one(spec)
    assert record.lost_tasks > 0  # 100 workers at once: the default 2 retries give up
    text = markdown_table(summarise([record]))
    assert "| W3 | legacy | B0-naive-r2 |" in text and "*" in text


@pytest.mark.skipif(available() is not None, reason=available() or "")
def test_langgraph_baseline_runs_and_is_deterministic() -> None:
    spec = RunSpec(workload="W2", system=SystemSpec(name="B3-langgraph"), mode="legacy", seed=0)
    first, second = run_one(spec), run_one(spec)
    assert first.lost_tasks == 0 and first.n_requests == 30
    assert first.ratio >= 0.999
    assert first.events_hash == second.events_hash


def test_langgraph_absence_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    import benchmarks.systems.langgraph_sys as langgraph_sys

    installed = {"langgraph"}
    monkeypatch.setattr(
        langgraph_sys.importlib.util,
        "find_spec",
        lambda name: object() if name in installed else None,
    )
    reason = langgraph_sys.available()
    assert reason is not None
    assert "langchain_anthropic not installed" in reason and ".[bench]" in reason
