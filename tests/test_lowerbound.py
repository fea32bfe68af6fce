"""The makespan lower bound (BENCHMARKS.md, "The yardstick") on hand-computed cases."""

from __future__ import annotations

import random

import pytest

from orchestrator.limits import ModelLimits
from orchestrator.lowerbound import (
    DagNode,
    bottom_levels,
    bucket_bound,
    lower_bound,
    node_latency,
)

# Capacities 60 / 6,000 / 600; refill 1 request, 100 input and 10 output tokens per second.
LIMITS = ModelLimits(rpm=60, itpm=6_000, otpm=600)


def node(
    id: str, *, i: float = 1, o: float = 1, latency: float = 1.0, succ: tuple[str, ...] = ()
) -> DagNode:
    return DagNode(id=id, input_tokens=i, output_tokens=o, latency=latency, successors=succ)


def test_chain_is_critical_path_bound() -> None:
    nodes = [
        node("a", latency=2, succ=("b",)),
        node("b", latency=3, succ=("c",)),
        node("c", latency=5),
    ]
    assert bottom_levels(nodes) == {"a": 10, "b": 8, "c": 5}
    lb = lower_bound(nodes, LIMITS)
    assert (lb.value, lb.critical_path, lb.binding) == (10, 10, "critical_path")
    assert lb.requests == 10 and lb.input == 10 and lb.output == 10


def test_fan_out_input_bound() -> None:
    nodes = [node(f"n{k}", i=1_000, o=10) for k in range(10)]
    lb = lower_bound(nodes, LIMITS)
    # 10,000 input: 6,000 from the full bucket, 4,000 at 100/s, then 1 s of latency.
    assert lb.input == pytest.approx(41.0)
    assert (lb.value, lb.binding) == (pytest.approx(41.0), "input")
    assert lb.requests == 1 and lb.output == 1


def test_requests_bound() -> None:
    lb = lower_bound([node(f"n{k}") for k in range(100)], LIMITS)
    assert (lb.value, lb.binding) == (pytest.approx(41.0), "requests")


def test_output_bound_depends_on_mode() -> None:
    nodes = [node(f"n{k}", o=100) for k in range(10)]
    legacy = lower_bound(nodes, LIMITS, mode="legacy")
    assert (legacy.output, legacy.binding) == (pytest.approx(41.0), "output")
    # Charged as produced: thresholds are tails (0 here), so one latency less.
    for mode in ("actual-throttle", "actual-error"):
        actual = lower_bound(nodes, LIMITS, mode=mode)
        assert (actual.output, actual.value) == (pytest.approx(40.0), pytest.approx(40.0))
    debt = lower_bound(nodes, LIMITS, mode="actual-debt")
    assert debt.output is None and debt.value == 1 and debt.binding == "critical_path"


def test_a_later_threshold_can_bind() -> None:
    # The root's own input must arrive before the long root starts: theta = bl(root) = 31.
    nodes = [node("root", i=8_000, latency=30, succ=("leaf",)), node("leaf", i=0, latency=1)]
    lb = lower_bound(nodes, LIMITS)
    assert lb.input == pytest.approx(31 + 2_000 / 100)


def test_fan_out_after_a_root_tails_versus_levels() -> None:
    nodes = [node("r", o=0, latency=5, succ=("x", "y", "z"))] + [
        node(k, o=400, latency=2) for k in ("x", "y", "z")
    ]
    assert lower_bound(nodes, LIMITS, mode="legacy").output == pytest.approx(2 + 600 / 10)
    assert lower_bound(nodes, LIMITS, mode="actual-throttle").output == pytest.approx(600 / 10)


def test_bucket_bound_counts_ties_together() -> None:
    assert bucket_bound([5.0, 5.0, 1.0], [10.0, 10.0, 0.0], capacity=15.0, rate=1.0) == 10.0
    assert bucket_bound([], [], capacity=1.0, rate=1.0) == 0.0


def test_node_latency_formula() -> None:
    assert node_latency(
        input_tokens=10_000, output_tokens=500, ttft=0.5, per_output=0.02, per_input=1e-5
    ) == pytest.approx(0.5 + 10 + 0.1)


def test_invalid_graphs_are_rejected() -> None:
    with pytest.raises(ValueError, match="cycle"):
        lower_bound([node("a", succ=("b",)), node("b", succ=("a",))], LIMITS)
    with pytest.raises(ValueError, match="unknown successor 'zz'"):
        lower_bound([node("a", succ=("zz",))], LIMITS)
    with pytest.raises(ValueError, match="duplicate"):
        lower_bound([node("a"), node("a")], LIMITS)
    with pytest.raises(ValueError, match="unknown mode"):
        lower_bound([node("a")], LIMITS, mode="throttle")  # type: ignore[arg-type]


def test_matches_brute_force_on_random_dags() -> None:
    rng = random.Random(3)
    for _ in range(30):
        n = rng.randint(1, 12)
        nodes = [
            node(
                str(k),
                i=rng.randint(0, 4_000),
                o=rng.randint(0, 300),
                latency=rng.uniform(0.1, 20),
                succ=tuple(str(j) for j in range(k + 1, n) if rng.random() < 0.3),
            )
            for k in range(n)
        ]
        bl = bottom_levels(nodes)
        lb = lower_bound(nodes, LIMITS)
        brute_in = max(
            t + max(0.0, sum(v.input_tokens for v in nodes if bl[v.id] >= t) - 6_000) / 100
            for t in bl.values()
        )
        assert lb.input == pytest.approx(brute_in)
        assert lb.value == max(lb.critical_path, lb.requests, lb.input, lb.output or 0.0)
        assert lb.ratio(lb.value) == pytest.approx(1.0)
