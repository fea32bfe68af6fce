"""Property tests: on random DAGs, order respects edges and the critical path is the longest."""

from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.graph import LatencyModel, TaskGraph, TaskNode

LATENCY = LatencyModel(ttft_s=0.25, output_tokens_per_s=10.0, prefill_s_per_token=0.001)


@st.composite
def dags(draw: st.DrawFn) -> list[TaskNode]:
    size = draw(st.integers(min_value=1, max_value=9))
    # Edges only go from a lower to a higher rank, so the graph is acyclic; the nodes are
    # then declared in a shuffled order so declaration order is not a topological order.
    names = [f"t{i}" for i in range(size)]
    deps = {names[j]: [names[i] for i in range(j) if draw(st.booleans())] for j in range(size)}
    order = draw(st.permutations(names))
    return [
        TaskNode(
            id=name,
            depends_on=tuple(deps[name]),
            expected_output_tokens=draw(st.integers(min_value=0, max_value=500)),
            input_tokens=draw(st.integers(min_value=0, max_value=5000)),
        )
        for name in order
    ]


def _path_length(graph: TaskGraph, path: list[str]) -> float:
    durations = graph.durations(LATENCY)
    return sum(durations[t] for t in path)


def _all_paths(graph: TaskGraph) -> list[list[str]]:
    g = graph.networkx
    paths: list[list[str]] = []
    for source in graph.roots:
        for target in graph.leaves:
            if source == target:
                paths.append([source])
            else:
                paths.extend(nx.all_simple_paths(g, source, target))
    return paths


@settings(max_examples=150, deadline=None)
@given(dags())
def test_topological_order_respects_every_edge(nodes: list[TaskNode]) -> None:
    graph = TaskGraph(nodes)
    position = {t: i for i, t in enumerate(graph.order)}
    assert sorted(graph.order) == sorted(n.id for n in nodes)
    for n in nodes:
        for dep in n.depends_on:
            assert position[dep] < position[n.id]


@settings(max_examples=150, deadline=None)
@given(dags())
def test_critical_path_is_the_longest_path(nodes: list[TaskNode]) -> None:
    graph = TaskGraph(nodes)
    paths = _all_paths(graph)
    longest = max(_path_length(graph, p) for p in paths)
    critical = graph.critical_path(LATENCY)
    assert abs(critical.duration - longest) < 1e-9
    assert abs(_path_length(graph, list(critical.tasks)) - critical.duration) < 1e-9
    assert list(critical.tasks) in paths
    durations = graph.durations(LATENCY)
    for task in graph.order:
        after = [p[p.index(task) + 1 :] for p in paths if task in p]
        expected_tail = max(_path_length(graph, rest) for rest in after)
        assert abs(graph.tail(task, LATENCY) - expected_tail) < 1e-9
        assert graph.tail(task, LATENCY) + durations[task] <= critical.duration + 1e-9
