"""The frozen task graph: structure checks, caps, order, readiness and the critical path."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

import networkx as nx

from orchestrator._graph_export import to_dot, to_mermaid
from orchestrator.config_errors import ConfigError, Loc, SourceMap, did_you_mean
from orchestrator.template import Template

if TYPE_CHECKING:
    from orchestrator.spec import WorkflowSpec

__all__ = [
    "CriticalPath",
    "GraphCaps",
    "LatencyModel",
    "TaskGraph",
    "TaskKind",
    "TaskNode",
    "dependency_problems",
    "nodes_from_spec",
]

DEFAULT_MAX_TOKENS = 4096
DEFAULT_EXPECTED_OUTPUT_TOKENS = 1024
_CHARS_PER_TOKEN = 4  # rough: only for duration and cap estimates, not for admission

TaskKind = Literal["model", "plan", "step"]
"""`model`: one agent call (or tool loop). `plan`: expanded into a sub-DAG at run time.
`step`: a Python function (`Workflow.step`); no model call, no budget, no token estimate."""

Problem = tuple[Loc, str, str | None]


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskNode:
    """One node: what the scheduler needs to order, estimate and admit it.

    `input_tokens` and `expected_output_tokens` are estimates used for durations and caps;
    the runner finds everything else (agent, schema, retries) in the spec by `id`.
    """

    id: str
    depends_on: tuple[str, ...] = ()
    prompt: str = ""
    kind: TaskKind = "model"
    model: str | None = None
    agent: str | None = None
    priority: int = 0
    max_tokens: int = DEFAULT_MAX_TOKENS
    expected_output_tokens: int = DEFAULT_EXPECTED_OUTPUT_TOKENS
    input_tokens: int = 0

    def __post_init__(self) -> None:
        # Accept any sequence for convenience, but store a tuple so the node stays hashable.
        object.__setattr__(self, "depends_on", tuple(self.depends_on))


@dataclass(frozen=True, kw_only=True, slots=True)
class GraphCaps:
    """Size limits checked before any API call; None disables a cap."""

    max_nodes: int = 10_000
    max_depth: int = 1_000
    max_fan_out: int = 2_000
    max_total_tokens: int | None = 1_000_000_000


@dataclass(frozen=True, kw_only=True, slots=True)
class LatencyModel:
    """Estimated seconds for one call: ttft + prefill * input + output / tokens_per_second."""

    ttft_s: float = 0.6
    output_tokens_per_s: float = 60.0
    prefill_s_per_token: float = 0.00002

    def __post_init__(self) -> None:
        if self.output_tokens_per_s <= 0:
            raise ValueError(f"output_tokens_per_s must be > 0, got {self.output_tokens_per_s}")
        if self.ttft_s < 0 or self.prefill_s_per_token < 0:
            raise ValueError("ttft_s and prefill_s_per_token must be >= 0")

    def duration(self, node: TaskNode) -> float:
        """Estimated duration of `node` in seconds (a function step counts as instant)."""
        if node.kind == "step":
            return 0.0
        return (
            self.ttft_s
            + self.prefill_s_per_token * node.input_tokens
            + node.expected_output_tokens / self.output_tokens_per_s
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class CriticalPath:
    """The longest estimated chain of tasks and its total duration in seconds."""

    tasks: tuple[str, ...]
    duration: float


def dependency_problems(nodes: Sequence[tuple[str, Sequence[str]]]) -> list[Problem]:
    """Duplicate ids, unknown or repeated dependencies and cycles among `(id, depends_on)`.

    Locations are `("tasks", i, ...)`, i being the position in `nodes`.
    """
    problems: list[Problem] = []
    index: dict[str, int] = {}
    for i, (task_id, _) in enumerate(nodes):
        if not task_id:
            problems.append((("tasks", i, "id"), "task id must not be empty", None))
        elif task_id in index:
            first = f"first defined at tasks[{index[task_id]}]"
            problems.append((("tasks", i, "id"), f"duplicate task id {task_id!r}", first))
        else:
            index[task_id] = i
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(index)
    for i, (task_id, deps) in enumerate(nodes):
        seen: set[str] = set()
        for j, dep in enumerate(deps):
            loc = ("tasks", i, "depends_on", j)
            if dep not in index:
                problems.append((loc, f"unknown task {dep!r}", did_you_mean(dep, index)))
            elif dep == task_id:
                problems.append((loc, f"task {task_id!r} depends on itself", None))
            elif dep in seen:
                problems.append((loc, f"{dep!r} is listed twice", None))
            elif index.get(task_id) == i:
                graph.add_edge(dep, task_id)
            seen.add(dep)
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1:
            problems.append(_cycle_problem(graph, component, index, nodes))
    return sorted(problems, key=lambda problem: problem[0])  # in document order


def _cycle_problem(
    graph: nx.DiGraph[str],
    component: Set[str],
    index: Mapping[str, int],
    nodes: Sequence[tuple[str, Sequence[str]]],
) -> Problem:
    start = min(component, key=index.__getitem__)
    edges = nx.find_cycle(graph.subgraph(component), source=start)
    cycle = [edges[0][0], *(v for _, v in edges)]
    closing_dep = edges[-1][0]  # the edge back into `start`: start.depends_on has it
    loc = ("tasks", index[start], "depends_on", list(nodes[index[start]][1]).index(closing_dep))
    return (
        loc,
        "dependency cycle: " + " -> ".join(cycle),
        "'a -> b' means b depends on a; remove one of these depends_on entries",
    )


def nodes_from_spec(spec: WorkflowSpec) -> list[TaskNode]:
    """The spec's tasks as nodes: model and token settings resolved (task, agent, workflow).

    Input tokens are estimated from the text sizes plus the expected output of the
    upstream tasks the prompt uses.
    """
    expected: dict[str, int] = {}
    for task in spec.tasks:
        if task.kind == "step":
            expected[task.id] = 0  # a step's output size is unknown; it costs no output tokens
            continue
        agent = spec.agents.get(task.agent) if task.agent else None
        max_tokens = task.max_tokens or (agent and agent.max_tokens) or DEFAULT_MAX_TOKENS
        guess = task.expected_output_tokens or (agent and agent.expected_output_tokens)
        expected[task.id] = guess or min(max_tokens, DEFAULT_EXPECTED_OUTPUT_TOKENS)
    shared = len(spec.context.text) + sum(len(d.text) for d in spec.context_documents)
    nodes = []
    for task in spec.tasks:
        if task.kind == "step":
            # Plain Python: no model, and nothing for the budget or the estimates.
            nodes.append(
                TaskNode(
                    id=task.id,
                    depends_on=tuple(task.depends_on),
                    kind="step",
                    priority=task.priority,
                    expected_output_tokens=0,
                )
            )
            continue
        agent = spec.agents.get(task.agent) if task.agent else None
        chars = shared + len(task.prompt) + (len(agent.system) if agent else 0)
        upstream = sum(expected[t] for t in Template.parse(task.prompt).task_refs)
        nodes.append(
            TaskNode(
                id=task.id,
                depends_on=tuple(task.depends_on),
                prompt=task.prompt,
                kind=task.kind,
                model=task.model or (agent and agent.model) or spec.model,
                agent=task.agent,
                priority=task.priority,
                max_tokens=task.max_tokens or (agent and agent.max_tokens) or DEFAULT_MAX_TOKENS,
                expected_output_tokens=expected[task.id],
                input_tokens=chars // _CHARS_PER_TOKEN + upstream,
            )
        )
    return nodes


class TaskGraph:
    """An immutable, validated DAG of `TaskNode`s; edges run from a dependency to its dependant.

    Construction checks duplicate ids, unknown dependencies, cycles and `GraphCaps`, and
    raises `ConfigError` listing every problem found.
    """

    __slots__ = ("_cache", "_graph", "_nodes", "_order", "_position")

    def __init__(
        self,
        nodes: Iterable[TaskNode],
        *,
        caps: GraphCaps | None = None,
        source: SourceMap | None = None,
    ) -> None:
        caps = caps or GraphCaps()
        source = source or SourceMap()
        items = list(nodes)
        if len(items) > caps.max_nodes:
            raise ConfigError(
                [
                    source.issue(
                        ("tasks",),
                        f"{len(items)} tasks, more than the cap of {caps.max_nodes}",
                        "split the workflow or raise GraphCaps.max_nodes",
                    )
                ]
            )
        problems = dependency_problems([(n.id, n.depends_on) for n in items])
        if problems:
            raise ConfigError(source.issue(*p) for p in problems)
        position = {n.id: i for i, n in enumerate(items)}
        graph: nx.DiGraph[str] = nx.DiGraph()
        graph.add_nodes_from(position)
        graph.add_edges_from((dep, n.id) for n in items for dep in n.depends_on)
        self._nodes: Mapping[str, TaskNode] = MappingProxyType({n.id: n for n in items})
        # Ties broken by declaration order, so the order is deterministic and familiar.
        self._order = tuple(nx.lexicographical_topological_sort(graph, key=position.__getitem__))
        self._position = MappingProxyType(position)
        self._graph = nx.freeze(graph)
        self._cache: dict[LatencyModel, tuple[dict[str, float], dict[str, float]]] = {}
        cap_problems = self._cap_problems(caps, position)
        if cap_problems:
            raise ConfigError(source.issue(*p) for p in cap_problems)

    @classmethod
    def from_spec(cls, spec: WorkflowSpec, *, caps: GraphCaps | None = None) -> TaskGraph:
        """The graph of a validated workflow; issues point into its YAML file."""
        return cls(nodes_from_spec(spec), caps=caps, source=spec.source_map)

    def _cap_problems(self, caps: GraphCaps, position: Mapping[str, int]) -> list[Problem]:
        problems: list[Problem] = []
        chain: dict[str, int] = {}
        for task_id in self._order:
            chain[task_id] = 1 + max(
                (chain[d] for d in self._graph.predecessors(task_id)), default=0
            )
        deepest = max(self._order, key=chain.__getitem__, default=None)
        if deepest is not None and chain[deepest] > caps.max_depth:
            problems.append(
                (
                    ("tasks", position[deepest]),
                    f"dependency chain of {chain[deepest]} tasks ends at {deepest!r}, "
                    f"more than the cap of {caps.max_depth}",
                    "raise GraphCaps.max_depth",
                )
            )
        for task_id in self._order:
            fan_out = self._graph.out_degree(task_id)
            if fan_out > caps.max_fan_out:
                problems.append(
                    (
                        ("tasks", position[task_id]),
                        f"task {task_id!r} has {fan_out} dependants, "
                        f"more than the cap of {caps.max_fan_out}",
                        "raise GraphCaps.max_fan_out",
                    )
                )
        total = sum(n.input_tokens + n.expected_output_tokens for n in self._nodes.values())
        if caps.max_total_tokens is not None and total > caps.max_total_tokens:
            problems.append(
                (
                    ("tasks",),
                    f"estimated {total} tokens in total, more than the cap of "
                    f"{caps.max_total_tokens}",
                    "raise GraphCaps.max_total_tokens",
                )
            )
        return problems

    # Read-only views -----------------------------------------------------------------

    @property
    def nodes(self) -> Mapping[str, TaskNode]:
        """Nodes by id (read-only), in declaration order."""
        return self._nodes

    @property
    def order(self) -> tuple[str, ...]:
        """A topological order: every task after its dependencies (ties: declaration order)."""
        return self._order

    @property
    def networkx(self) -> nx.DiGraph[str]:
        """The underlying graph, frozen (mutation raises)."""
        return self._graph

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._nodes

    def __iter__(self) -> Iterator[TaskNode]:
        """Nodes in topological order."""
        return (self._nodes[t] for t in self._order)

    def dependencies(self, task_id: str) -> frozenset[str]:
        """Direct dependencies of `task_id`."""
        return frozenset(self._graph.predecessors(self._known(task_id)))

    def dependants(self, task_id: str) -> frozenset[str]:
        """Tasks that directly depend on `task_id`."""
        return frozenset(self._graph.successors(self._known(task_id)))

    def ancestors(self, task_id: str) -> frozenset[str]:
        """Every task `task_id` depends on, directly or transitively."""
        return frozenset(nx.ancestors(self._graph, self._known(task_id)))

    def descendants(self, task_id: str) -> frozenset[str]:
        """Every task that depends on `task_id`, directly or transitively."""
        return frozenset(nx.descendants(self._graph, self._known(task_id)))

    @property
    def roots(self) -> tuple[str, ...]:
        """Tasks without dependencies, in topological order."""
        return tuple(t for t in self._order if self._graph.in_degree(t) == 0)

    @property
    def leaves(self) -> tuple[str, ...]:
        """Tasks nothing depends on, in topological order."""
        return tuple(t for t in self._order if self._graph.out_degree(t) == 0)

    def ready(self, done: Collection[str], running: Collection[str] = ()) -> tuple[str, ...]:
        """Tasks not done or running whose dependencies are all done, in topological order."""
        unknown = (set(done) | set(running)) - self._nodes.keys()
        if unknown:
            raise ValueError(f"unknown task ids: {', '.join(sorted(unknown))}")
        finished = set(done)
        skip = finished | set(running)
        return tuple(
            t
            for t in self._order
            if t not in skip and all(d in finished for d in self._graph.predecessors(t))
        )

    # Estimates -------------------------------------------------------------------------

    def _estimates(self, latency: LatencyModel) -> tuple[dict[str, float], dict[str, float]]:
        if latency not in self._cache:
            durations = {t: latency.duration(self._nodes[t]) for t in self._order}
            tails: dict[str, float] = {}
            # Every node's successors in one pass (`successors(t)` is a call per node).
            successors = dict(self._graph.adjacency())
            for t in reversed(self._order):
                tails[t] = max((durations[s] + tails[s] for s in successors[t]), default=0.0)
            self._cache[latency] = (durations, tails)
        return self._cache[latency]

    def durations(self, latency: LatencyModel | None = None) -> Mapping[str, float]:
        """Estimated seconds per task under `latency` (default `LatencyModel()`)."""
        return MappingProxyType(self._estimates(latency or LatencyModel())[0])

    def tails(self, latency: LatencyModel | None = None) -> Mapping[str, float]:
        """`tail` of every task under `latency` (default `LatencyModel()`), read-only."""
        return MappingProxyType(self._estimates(latency or LatencyModel())[1])

    def tail(self, task_id: str, latency: LatencyModel | None = None) -> float:
        """Longest estimated chain of work remaining after `task_id` finishes, in seconds."""
        return self._estimates(latency or LatencyModel())[1][self._known(task_id)]

    def critical_path(self, latency: LatencyModel | None = None) -> CriticalPath:
        """The chain with the longest total estimated duration (ties: earlier tasks first)."""
        durations, tails = self._estimates(latency or LatencyModel())
        if not self._order:
            return CriticalPath(tasks=(), duration=0.0)
        current = max(self.roots, key=lambda t: durations[t] + tails[t])
        total = durations[current] + tails[current]
        path = [current]
        while self._graph.out_degree(current):
            current = max(
                sorted(self._graph.successors(current), key=self._position.__getitem__),
                key=lambda s: durations[s] + tails[s],
            )
            path.append(current)
        return CriticalPath(tasks=tuple(path), duration=total)

    # Export ----------------------------------------------------------------------------

    def to_mermaid(self, *, highlight: Collection[str] = ()) -> str:
        """A Mermaid flowchart; `highlight` (e.g. the critical path) is styled."""
        return to_mermaid(self._order, self._nodes, self._graph.edges, highlight=highlight)

    def to_dot(self, *, name: str = "workflow", highlight: Collection[str] = ()) -> str:
        """A Graphviz DOT digraph; `highlight` (e.g. the critical path) is styled."""
        return to_dot(self._order, self._nodes, self._graph.edges, name=name, highlight=highlight)

    def _known(self, task_id: str) -> str:
        if task_id not in self._nodes:
            hint = did_you_mean(task_id, self._nodes)
            raise KeyError(f"unknown task {task_id!r}" + (f" ({hint})" if hint else ""))
        return task_id
