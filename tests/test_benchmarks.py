"""Smoke test of the benchmark harness (`python -m benchmarks`), in virtual time.

A small W1-like fan-out (20 of W1's nodes), one seed, dagwright with the critical-path
policy and the naive gather baseline, in both accounting modes.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest
import structlog

from benchmarks.env import prompt_text, server_setup
from benchmarks.harness import RunSpec, run_one
from benchmarks.record import FIELDS, Record
from benchmarks.report import summarise
from benchmarks.systems import SystemSpec, expand_systems
from benchmarks.targets import evaluate, evaluate_groups
from benchmarks.workloads import Workload, make_workload
from orchestrator.emulator import count_request_tokens

DAGWRIGHT = SystemSpec(name="dagwright", policy="critical_path")
NAIVE = SystemSpec(name="B0-naive-r2")


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))


def small_w1(seed: int = 0) -> Workload:
    workload = make_workload("W1", seed)
    return dataclasses.replace(workload, nodes=workload.nodes[:20])


def run(system: SystemSpec, mode: str = "legacy", seed: int = 0) -> Record:
    spec = RunSpec(workload="W1", system=system, mode=mode, seed=seed)  # type: ignore[arg-type]
    return run_one(spec, workload=small_w1(seed))


def test_prompts_count_exactly_the_node_input() -> None:
    for node in small_w1().nodes[:3]:
        body = {"model": node.model, "messages": [{"role": "user", "content": prompt_text(node)}]}
        assert count_request_tokens(body) == node.input_tokens


@pytest.mark.parametrize("mode", ["legacy", "actual"])
def test_dagwright_record_is_complete_and_never_beats_the_bound(mode: str) -> None:
    record = run(DAGWRIGHT, mode)
    data = record.to_json()
    assert set(FIELDS) <= set(data)
    for name in ("makespan_s", "lower_bound_s", "ratio", "out_util", "in_util", "cost_usd"):
        assert isinstance(data[name], float), name
    assert record.workload == "W1" and record.mode == mode and record.seed == 0
    assert record.policy == "critical_path"
    assert record.binding in ("critical_path", "requests", "input", "output")
    assert record.ratio >= 0.99, f"makespan {record.makespan_s} below the bound {record}"
    assert record.n_429 == 0
    assert record.n_529 == 0
    assert record.lost_tasks == 0
    assert record.n_requests == 20
    assert record.notes["budget_rate_limited"] == 0
    assert 0 < record.in_util <= 1.0 and 0 < record.out_util <= 1.0
    assert (record.wasted_reservation is None) == (mode == "actual")
    assert record.cost_usd > 0
    assert len(record.events_hash) == 16


def test_same_seed_gives_the_same_event_log() -> None:
    first, second = run(DAGWRIGHT), run(DAGWRIGHT)
    assert first.events_hash == second.events_hash
    assert first.makespan_s == second.makespan_s
    naive_first, naive_second = run(NAIVE), run(NAIVE)
    assert naive_first.events_hash == naive_second.events_hash


def test_fewer_noop_cycles_do_not_change_the_schedule() -> None:
    spec = RunSpec(workload="W1", system=DAGWRIGHT, mode="legacy", seed=0)
    fast = run_one(spec, workload=small_w1(), noop_cycles=0)
    default = run_one(spec, workload=small_w1(), noop_cycles=42)  # looptime's default
    assert fast.events_hash == default.events_hash


def test_naive_baseline_record() -> None:
    record = run(NAIVE)
    assert set(FIELDS) <= set(record.to_json())
    assert record.system == "B0-naive-r2" and record.policy is None
    # 20 x 20k input fits the 450k ITPM burst: no 429s, and the bound is met exactly
    assert record.n_429 == 0 and record.lost_tasks == 0
    assert record.ratio == pytest.approx(1.0, abs=1e-3)
    assert record.wasted_reservation == sum(
        n.max_tokens - n.output_tokens for n in small_w1().nodes
    )


def test_summaries_and_targets() -> None:
    records = [run(DAGWRIGHT), run(NAIVE)]
    summaries = summarise(records)
    assert [s.label for s in summaries] == ["dagwright/critical_path", "B0-naive-r2"]
    verdicts = evaluate(summaries)
    assert any(v.target == "0 429s" and v.status == "met" for v in verdicts)


def test_w7_records_carry_the_blind_floor_in_legacy_mode() -> None:
    w7 = make_workload("W7", 0)
    small = dataclasses.replace(w7, nodes=w7.nodes[:40])
    records = {
        mode: run_one(
            RunSpec(workload="W7", system=DAGWRIGHT, mode=mode, seed=0),  # type: ignore[arg-type]
            workload=small,
        )
        for mode in ("legacy", "actual")
    }
    legacy = records["legacy"]
    assert legacy.notes["blind_floor_ratio"] >= 1.0
    assert legacy.notes["blind_floor_s"] >= legacy.lower_bound_s
    assert "blind_floor_ratio" not in records["actual"].notes  # the floor is for legacy only
    (verdict,) = [v for v in evaluate_groups(list(records.values())) if "blind" in v.target]
    assert verdict.status == "n/a" and verdict.mode == "legacy"


def test_the_oracle_sends_max_tokens_sized_to_each_answer_and_admits_the_longest_first() -> None:
    w7 = make_workload("W7", 0)
    small = dataclasses.replace(w7, nodes=w7.nodes[:40])
    oracle = SystemSpec(name="dagwright-oracle", policy="critical_path")
    record = run_one(RunSpec(workload="W7", system=oracle, mode="legacy", seed=0), workload=small)
    assert record.notes["declared_output"] == "exact"
    assert record.notes["truncated_answers"] == 0 and record.n_429 == 0
    # max_tokens one above each real answer: only one token per call is left unused.
    assert record.wasted_reservation == len(small.nodes)
    assert record.ratio < 1.05


def test_system_names_expand() -> None:
    names = ["dagwright", "B0", "dagwright-declared", "dagwright-oracle"]
    labels = [s.label for s in expand_systems(names)]
    assert labels == [
        "dagwright/fifo",
        "dagwright/fair",
        "dagwright/priority",
        "dagwright/critical_path",
        "B0-naive-r2",
        "B0-naive-r10",
        "dagwright-declared/critical_path",
        "dagwright-oracle/critical_path",
    ]
    with pytest.raises(ValueError, match="unknown system"):
        expand_systems(["B9"])


def test_server_setup_matches_the_tier() -> None:
    setup = server_setup(small_w1(), "legacy", 0)
    assert (setup.limits.rpm, setup.limits.itpm, setup.limits.otpm) == (1_000, 450_000, 90_000)
    assert setup.latency.jitter == 0
