"""`benchmarks.blind`: the makespan a scheduler blind to outputs can expect, on hand cases."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.blind import blind_makespan
from benchmarks.bound import dag_nodes, realised_bound
from benchmarks.env import server_setup
from benchmarks.workloads import make_workload
from orchestrator.limits import ModelLimits
from orchestrator.lowerbound import DagNode, lower_bound

# Capacities 60 / 6,000 / 600; refill 1 request, 100 input and 10 output tokens per second.
LIMITS = ModelLimits(rpm=60, itpm=6_000, otpm=600)


def node(id: str, *, o: float, latency: float, succ: tuple[str, ...] = ()) -> DagNode:
    return DagNode(id=id, input_tokens=1, output_tokens=o, latency=latency, successors=succ)


def test_two_calls_sharing_a_drained_output_bucket() -> None:
    # Each call takes the whole output bucket: the second waits 60 s for it to refill.
    nodes = [node("short", o=600, latency=1.0), node("long", o=600, latency=5.0)]
    # short first: long admitted at 60, ends at 65; long first: short ends at 61.
    singles = {blind_makespan(nodes, LIMITS, orders=1, seed=s) for s in range(20)}
    assert singles == {61.0, 65.0}
    assert blind_makespan(nodes, LIMITS, orders=400, seed=1) == pytest.approx(63.0, abs=0.5)
    # The bound may admit the short one last: 60 + 1.
    assert lower_bound(nodes, LIMITS, mode="legacy").value == 61.0


def test_dependencies_are_respected_and_ample_capacity_costs_nothing() -> None:
    chain = [
        node("a", o=10, latency=2.0, succ=("b", "c")),
        node("b", o=10, latency=3.0, succ=("d",)),
        node("c", o=10, latency=7.0, succ=("d",)),
        node("d", o=10, latency=1.0),
    ]
    assert blind_makespan(chain, LIMITS, orders=8) == 10.0


def test_rejects_no_orders() -> None:
    with pytest.raises(ValueError, match="orders must be >= 1"):
        blind_makespan([node("a", o=1, latency=1.0)], LIMITS, orders=0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 600), st.floats(0.1, 20.0), st.integers(0, 5)),
        min_size=1,
        max_size=25,
    ),
    st.integers(0, 1000),
)
def test_never_below_the_legacy_lower_bound(spec: list[tuple[int, float, int]], seed: int) -> None:
    # Node k may feed node k + 1 + jump (a DAG by construction).
    nodes = [
        node(
            f"n{k}",
            o=o,
            latency=latency,
            succ=(f"n{k + 1 + jump}",) if k + 1 + jump < len(spec) else (),
        )
        for k, (o, latency, jump) in enumerate(spec)
    ]
    bound = lower_bound(nodes, LIMITS, mode="legacy").value
    assert blind_makespan(nodes, LIMITS, orders=3, seed=seed) >= bound - 1e-9


def test_w7_floor_is_above_the_bound() -> None:
    # The figure the benchmark reports on W7: a blind scheduler cannot reach its bound.
    work = make_workload("W7", 0)
    setup = server_setup(work, "legacy", 0)
    bound = realised_bound(work, {}, latency=setup.latency, limits=setup.limits, mode="legacy")
    floor = blind_makespan(dag_nodes(work, {}, setup.latency), setup.limits, orders=8, seed=0)
    assert 1.08 < floor / bound.value < 1.2
