"""TaskGraph: structure errors, caps, order, readiness, estimates, export, immutability."""

from __future__ import annotations

import dataclasses

import networkx as nx
import pytest

from orchestrator.config_errors import ConfigError
from orchestrator.graph import GraphCaps, LatencyModel, TaskGraph, TaskNode
from orchestrator.spec import parse_workflow

# Duration = expected output tokens, in seconds: easy to reason about by hand.
UNIT = LatencyModel(ttft_s=0.0, output_tokens_per_s=1.0, prefill_s_per_token=0.0)


def node(task_id: str, *deps: str, out: int = 1, **kwargs: object) -> TaskNode:
    return TaskNode(id=task_id, depends_on=deps, expected_output_tokens=out, **kwargs)  # type: ignore[arg-type]


def diamond() -> TaskGraph:
    #   a(1) -> b(5) -> d(1)
    #   a(1) -> c(2) -> d(1)
    return TaskGraph([node("a"), node("b", "a", out=5), node("c", "a", out=2), node("d", "b", "c")])


def _errors(nodes: list[TaskNode], caps: GraphCaps | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        TaskGraph(nodes, caps=caps)
    return [str(issue) for issue in info.value.issues]


def test_cycle_is_named() -> None:
    assert _errors([node("a", "c"), node("b", "a"), node("c", "b"), node("x")]) == [
        "tasks[0].depends_on[0]: dependency cycle: a -> b -> c -> a "
        "('a -> b' means b depends on a; remove one of these depends_on entries)"
    ]


def test_every_cycle_is_reported() -> None:
    found = _errors([node("a", "b"), node("b", "a"), node("c", "d"), node("d", "c")])
    assert [issue.split(": ", 2)[1] for issue in found] == [
        "dependency cycle",
        "dependency cycle",
    ]


def test_missing_dependency_and_duplicate_id() -> None:
    assert _errors([node("research"), node("write", "reserch"), node("research")]) == [
        "tasks[1].depends_on[0]: unknown task 'reserch' (did you mean 'research'?)",
        "tasks[2].id: duplicate task id 'research' (first defined at tasks[0])",
    ]


def test_repeated_dependency() -> None:
    assert _errors([node("a"), node("b", "a", "a")]) == [
        "tasks[1].depends_on[1]: 'a' is listed twice"
    ]


def test_cap_on_nodes_fails_before_anything_else() -> None:
    nodes = [node(f"t{i}", "missing") for i in range(11)]
    assert _errors(nodes, GraphCaps(max_nodes=10)) == [
        "tasks: 11 tasks, more than the cap of 10 (split the workflow or raise GraphCaps.max_nodes)"
    ]


def test_cap_on_depth() -> None:
    chain = [node("t0")] + [node(f"t{i}", f"t{i - 1}") for i in range(1, 5)]
    assert _errors(chain, GraphCaps(max_depth=4)) == [
        "tasks[4]: dependency chain of 5 tasks ends at 't4', more than the cap of 4 "
        "(raise GraphCaps.max_depth)"
    ]


def test_cap_on_fan_out() -> None:
    nodes = [node("root")] + [node(f"leaf{i}", "root") for i in range(4)]
    assert _errors(nodes, GraphCaps(max_fan_out=3)) == [
        "tasks[0]: task 'root' has 4 dependants, more than the cap of 3 "
        "(raise GraphCaps.max_fan_out)"
    ]


def test_cap_on_total_tokens() -> None:
    nodes = [node("a", out=600, input_tokens=100), node("b", out=400)]
    assert _errors(nodes, GraphCaps(max_total_tokens=1000)) == [
        "tasks: estimated 1100 tokens in total, more than the cap of 1000 "
        "(raise GraphCaps.max_total_tokens)"
    ]


def test_oversized_workflow_points_into_the_file() -> None:
    text = "name: x\ntasks:\n" + "".join(f"  - {{id: t{i}, prompt: p}}\n" for i in range(5))
    spec = parse_workflow(text, file="wf.yaml")
    with pytest.raises(ConfigError) as info:
        TaskGraph.from_spec(spec, caps=GraphCaps(max_nodes=4))
    assert str(info.value) == (
        "wf.yaml:2: tasks: 5 tasks, more than the cap of 4 "
        "(split the workflow or raise GraphCaps.max_nodes)"
    )


def test_topological_order_breaks_ties_by_declaration() -> None:
    graph = TaskGraph([node("z"), node("y", "x"), node("x"), node("w", "z")])
    assert graph.order == ("z", "x", "y", "w")
    assert [n.id for n in graph] == list(graph.order)
    assert graph.roots == ("z", "x")
    assert graph.leaves == ("y", "w")


def test_relations() -> None:
    graph = diamond()
    assert graph.dependencies("d") == {"b", "c"}
    assert graph.dependants("a") == {"b", "c"}
    assert graph.ancestors("d") == {"a", "b", "c"}
    assert graph.descendants("b") == {"d"}
    assert len(graph) == 4 and "a" in graph and "zz" not in graph


def test_ready() -> None:
    graph = diamond()
    assert graph.ready(set()) == ("a",)
    assert graph.ready({"a"}) == ("b", "c")
    assert graph.ready({"a"}, running={"b"}) == ("c",)
    assert graph.ready({"a", "b"}) == ("c",)
    assert graph.ready({"a", "b", "c"}) == ("d",)
    assert graph.ready({"a", "b", "c", "d"}) == ()
    with pytest.raises(ValueError, match="unknown task ids: nope"):
        graph.ready({"nope"})


def test_critical_path_and_tail_by_hand() -> None:
    graph = diamond()
    assert graph.critical_path(UNIT).tasks == ("a", "b", "d")
    assert graph.critical_path(UNIT).duration == 7.0
    assert {t: graph.tail(t, UNIT) for t in graph.order} == {"a": 6.0, "b": 1.0, "c": 1.0, "d": 0.0}


def test_critical_path_of_parallel_chains() -> None:
    graph = TaskGraph([node("a", out=3), node("b", "a", out=3), node("c", out=10)])
    assert graph.critical_path(UNIT).tasks == ("c",)
    assert graph.tail("a", UNIT) == 3.0


def test_latency_model() -> None:
    latency = LatencyModel(ttft_s=0.5, output_tokens_per_s=100, prefill_s_per_token=0.001)
    graph = TaskGraph([node("a", out=200, input_tokens=1000)])
    assert graph.durations(latency)["a"] == pytest.approx(0.5 + 1.0 + 2.0)
    with pytest.raises(ValueError, match="output_tokens_per_s must be > 0"):
        LatencyModel(output_tokens_per_s=0)


def test_empty_graph() -> None:
    graph = TaskGraph([])
    assert graph.order == () and graph.critical_path().tasks == ()


def test_graph_is_frozen() -> None:
    graph = diamond()
    with pytest.raises(nx.NetworkXError):
        graph.networkx.add_edge("d", "a")
    with pytest.raises(TypeError):
        graph.nodes["a"] = node("zz")  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        graph.nodes["a"].priority = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        graph.extra = 1  # type: ignore[attr-defined]


def test_unknown_task_suggests() -> None:
    with pytest.raises(KeyError, match="did you mean 'a'"):
        diamond().tail("A")


def test_mermaid_export_escapes_and_highlights() -> None:
    graph = TaskGraph(
        [node('say "hi"'), node("a#b<c>&`d`", 'say "hi"'), node("end", "a#b<c>&`d`", kind="plan")]
    )
    assert graph.to_mermaid(highlight=("end",)) == (
        "flowchart TD\n"
        '    n0["say #34;hi#34;"]\n'
        '    n1["a#35;b#60;c#62;#38;#96;d#96;"]\n'
        '    n2{{"end"}}\n'
        "    n0 --> n1\n"
        "    n1 --> n2\n"
        "    classDef critical stroke:#d62728,stroke-width:3px\n"
        "    class n2 critical\n"
    )


def test_dot_export_escapes_and_highlights() -> None:
    graph = TaskGraph([node('say "hi"\\'), node("two\nlines", 'say "hi"\\', kind="plan")])
    assert graph.to_dot(name="my flow", highlight=('say "hi"\\',)) == (
        'digraph "my flow" {\n'
        "    rankdir=LR;\n"
        "    node [shape=box];\n"
        '    "say \\"hi\\"\\\\" [label="say \\"hi\\"\\\\", color="#d62728", penwidth=2];\n'
        '    "two\\nlines" [label="two\\nlines", shape=hexagon];\n'
        '    "say \\"hi\\"\\\\" -> "two\\nlines";\n'
        "}\n"
    )
