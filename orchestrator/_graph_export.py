"""Mermaid and Graphviz DOT renderings of a task graph, with labels escaped for each."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.graph import TaskNode

__all__ = ["to_dot", "to_mermaid"]

# Mermaid reads `#code;` as an entity, so '#' itself must be escaped first; numeric codes
# work in every Mermaid version, named ones do not.
_MERMAID_ESCAPES = {c: f"#{ord(c)};" for c in '#"<>&`'}


def _mermaid_label(text: str) -> str:
    escaped = "".join(_MERMAID_ESCAPES.get(c, c) for c in text)
    return " ".join(escaped.splitlines())


def _dot_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n") + '"'


def _sorted_edges(order: Sequence[str], edges: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    position = {task_id: i for i, task_id in enumerate(order)}
    return sorted(edges, key=lambda e: (position[e[0]], position[e[1]]))


def to_mermaid(
    order: Sequence[str],
    nodes: Mapping[str, TaskNode],
    edges: Iterable[tuple[str, str]],
    *,
    highlight: Collection[str] = (),
) -> str:
    """`flowchart TD` text; node ids are synthetic (`n0`, `n1`...) so any task id is safe."""
    ids = {task_id: f"n{i}" for i, task_id in enumerate(order)}
    lines = ["flowchart TD"]
    for task_id in order:
        label = _mermaid_label(task_id)
        if nodes[task_id].kind == "plan":
            lines.append(f'    {ids[task_id]}{{{{"{label}"}}}}')
        else:
            lines.append(f'    {ids[task_id]}["{label}"]')
    for src, dst in _sorted_edges(order, edges):
        lines.append(f"    {ids[src]} --> {ids[dst]}")
    marked = [ids[t] for t in order if t in highlight]
    if marked:
        lines.append("    classDef critical stroke:#d62728,stroke-width:3px")
        lines.append(f"    class {','.join(marked)} critical")
    return "\n".join(lines) + "\n"


def to_dot(
    order: Sequence[str],
    nodes: Mapping[str, TaskNode],
    edges: Iterable[tuple[str, str]],
    *,
    name: str = "workflow",
    highlight: Collection[str] = (),
) -> str:
    """A `digraph` with every id and label quoted and escaped."""
    lines = [f"digraph {_dot_string(name)} {{", "    rankdir=LR;", "    node [shape=box];"]
    for task_id in order:
        attrs = [f"label={_dot_string(task_id)}"]
        if nodes[task_id].kind == "plan":
            attrs.append("shape=hexagon")
        if task_id in highlight:
            attrs.append('color="#d62728", penwidth=2')
        lines.append(f"    {_dot_string(task_id)} [{', '.join(attrs)}];")
    for src, dst in _sorted_edges(order, edges):
        lines.append(f"    {_dot_string(src)} -> {_dot_string(dst)};")
    lines.append("}")
    return "\n".join(lines) + "\n"
