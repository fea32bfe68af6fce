"""W5 (mixed priorities), W8 (robustness) and W9 (seed scenario) of the benchmark suite.

Reduced versions of the workloads run in virtual time through `run_one`, so each test
takes a second or two; the full sizes run in `python -m benchmarks`.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest
import structlog

from benchmarks.env import server_setup
from benchmarks.groups import episodes, only_group
from benchmarks.harness import RunSpec, run_one
from benchmarks.record import Record
from benchmarks.systems import SystemSpec
from benchmarks.trace import Trace
from benchmarks.workload_w5 import CHAIN, CHAIN_PRIORITY, CHAIN_RELEASE_S
from benchmarks.workload_w8 import BURST_FRACTION
from benchmarks.workload_w9 import OTPM_VARIANTS
from benchmarks.workloads import WORKLOADS, Workload, expand_workloads, make_workload

CRITICAL = SystemSpec(name="dagwright", policy="critical_path")
FIFO = SystemSpec(name="dagwright", policy="fifo")


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))


def run(workload: Workload, system: SystemSpec, mode: str = "legacy") -> Record:
    spec = RunSpec(workload=workload.name, system=system, mode=mode, seed=workload.seed)  # type: ignore[arg-type]
    return run_one(spec, workload=workload)


def small_w5(bulk: int = 120, chain: int = 4) -> Workload:
    w5 = make_workload("W5", 0)
    bulk_nodes = [n for n in w5.nodes if n.group == "bulk"][:bulk]
    chain_nodes = [n for n in w5.nodes if n.group == CHAIN][:chain]
    return dataclasses.replace(w5, nodes=(*bulk_nodes, *chain_nodes))


def test_every_workload_is_registered_and_w9_expands() -> None:
    assert {"W5", "W8", "W9-8k", "W9-80k"} <= set(WORKLOADS)
    assert expand_workloads(["W9", "W5"]) == ["W9-8k", "W9-80k", "W5"]
    with pytest.raises(ValueError, match="unknown workload 'W10'"):
        expand_workloads(["W10"])


def test_w5_shape() -> None:
    w5 = make_workload("W5", 3)
    chain = [n for n in w5.nodes if n.group == CHAIN]
    bulk = [n for n in w5.nodes if n.group == "bulk"]
    assert (len(chain), len(bulk)) == (10, 500)
    assert all(n.release_at == CHAIN_RELEASE_S and n.priority == CHAIN_PRIORITY for n in chain)
    assert all(n.release_at == 0 and n.priority == 0 and not n.deps for n in bulk)
    assert [n.deps for n in chain[1:]] == [(c.id,) for c in chain[:-1]]
    alone = only_group(w5, CHAIN, release=False)
    assert len(alone.nodes) == 10 and all(n.release_at == 0 for n in alone.nodes)


@pytest.mark.parametrize("system", ["B0-naive-r10", "B1-throttle", "B2-cookbook", "dagwright"])
def test_every_system_holds_a_node_until_its_release(system: str) -> None:
    w5 = small_w5(bulk=5, chain=2)
    spec = SystemSpec(name=system, policy="fifo" if system == "dagwright" else None)
    record = run(w5, spec)
    assert record.lost_tasks == 0
    chain = record.notes["groups"][CHAIN]
    # released at 30 s; two calls in sequence take > 20 s each
    assert chain["finished_at_s"] > CHAIN_RELEASE_S + 2 * 10
    assert chain["makespan_s"] == pytest.approx(chain["alone_makespan_s"], rel=0.02)


def test_w5_critical_path_lets_the_chain_jump_the_bulk() -> None:
    w5 = small_w5()
    record = run(w5, CRITICAL)
    chain, bulk = record.notes["groups"][CHAIN], record.notes["groups"]["bulk"]
    assert record.lost_tasks == 0 and record.n_429 == 0
    assert chain["vs_alone"] <= 1.10, chain
    assert bulk["ratio"] >= 1.0 and bulk["done"] == 120  # the full W5 is judged by the CLI
    assert chain["ratio"] >= 1.0 and chain["release_s"] == CHAIN_RELEASE_S
    # FIFO queues each chain call behind the bulk that arrived before it
    fifo = run(w5, FIFO).notes["groups"][CHAIN]
    assert fifo["makespan_s"] > chain["makespan_s"] * 1.05


def test_w8_server_is_harsher_than_the_clients_are_told() -> None:
    w8 = make_workload("W8", 0)
    setup = server_setup(w8, "legacy", 0)
    nominal = setup.client_limits
    assert (nominal.rpm, nominal.itpm, nominal.otpm) == (1_000, 450_000, 90_000)
    assert nominal.itpm_burst is None
    assert setup.limits.itpm_burst == int(450_000 * BURST_FRACTION)
    assert setup.limits.otpm_burst == int(90_000 * BURST_FRACTION)
    assert setup.latency.jitter == pytest.approx(0.3)
    assert setup.config.faults.overloaded_529 == pytest.approx(0.01)
    assert setup.config.faults.acceleration_windows == ((40.0, 50.0),)
    # every node fits the small burst, so no node is impossible
    assert all(n.input_tokens <= setup.limits.itpm_burst for n in w8.nodes)
    assert all(n.max_tokens <= setup.limits.otpm_burst for n in w8.nodes)


def test_w8_dagwright_discovers_the_burst_and_loses_nothing() -> None:
    w8 = make_workload("W8", 0)
    workers = [n for n in w8.nodes if not n.deps][:60]
    reducer = dataclasses.replace(w8.nodes[-1], deps=tuple(n.id for n in workers))
    small = dataclasses.replace(w8, nodes=(*workers, reducer))
    record = run(small, CRITICAL)
    assert record.lost_tasks == 0
    assert record.n_429 > 0  # the nominal burst is 60x the true one: it must find out
    assert 1 <= record.notes["n_429_episodes"] <= record.n_429
    assert record.ratio >= 1.0  # the bound uses the true burst and (1 - jitter) latencies


def test_w8_bound_allows_for_jitter() -> None:
    w8 = make_workload("W8", 0)
    calm = dataclasses.replace(w8, server={})
    jittery = run(
        dataclasses.replace(w8, nodes=w8.nodes[:3], server={"latency": w8.server["latency"]}),
        CRITICAL,
    )
    steady = run(dataclasses.replace(calm, nodes=calm.nodes[:3]), CRITICAL)
    # three independent calls: the bound is the longest latency, 30 % shorter with jitter
    assert jittery.lower_bound_s == pytest.approx(0.7 * steady.lower_bound_s, rel=1e-6)


def test_episodes_split_429s_by_gaps() -> None:
    trace = Trace()
    for at in (0.0, 0.0, 1.0, 3.0, 20.0, 21.0, 60.0):
        trace.events.append((at, "t", "http 429"))
    trace.events.append((10.0, "t", "http 200"))
    assert episodes(trace) == 3
    assert episodes(trace, gap_s=100.0) == 1
    assert episodes(Trace()) == 0


@pytest.mark.parametrize("name", list(OTPM_VARIANTS))
def test_w9_reports_predicted_and_measured(name: str) -> None:
    w9 = make_workload(name, 0)
    assert len(w9.nodes) == 22 and {n.model for n in w9.nodes} == {"claude-opus-4-8"}
    setup = server_setup(w9, "legacy", 0)
    assert setup.limits.otpm == OTPM_VARIANTS[name] and setup.limits.rpm == 50
    record = run(w9, CRITICAL)
    prediction = record.notes["prediction"]
    assert record.lost_tasks == 0 and record.n_429 == 0
    assert record.makespan_s >= record.lower_bound_s
    assert prediction["predicted_lb_s"] >= prediction["predict_critical_path_opus_s"]
    assert prediction["predict_critical_path_s"] > 0


def test_w9_the_raised_output_limit_is_faster() -> None:
    slow = run(make_workload("W9-8k", 0), CRITICAL)
    fast = run(make_workload("W9-80k", 0), CRITICAL)
    assert fast.makespan_s < slow.makespan_s
    assert fast.notes["prediction"]["predicted_lb_s"] < slow.notes["prediction"]["predicted_lb_s"]
