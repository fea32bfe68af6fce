"""`dagwright validate`, `graph` and `schema`: check a workflow, draw it, describe the format.

None of them calls the API. Every user mistake (missing file, bad YAML, bad `--set`, bad
option) is reported on stderr with exit code 2; see `orchestrator._console`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from orchestrator._console import config_errors, emit, fail, stdout_console
from orchestrator.config_errors import did_you_mean
from orchestrator.graph import CriticalPath, TaskGraph
from orchestrator.inputs import resolve_inputs
from orchestrator.prediction import predict
from orchestrator.spec import WorkflowSpec, load_workflow

__all__ = ["graph_command", "register", "schema_command", "validate_command"]

GRAPH_FORMATS = ("mermaid", "dot")
_SHOWN = 10  # longer lists of task ids are cut, with a count of the rest

_File = Annotated[
    Path, typer.Argument(help="The workflow YAML file.", show_default=False, metavar="FILE")
]
_Output = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write to this file instead of stdout.", metavar="PATH"),
]


def _load(file: Path) -> tuple[WorkflowSpec, TaskGraph]:
    with config_errors():
        spec = load_workflow(file)
        return spec, TaskGraph.from_spec(spec)


def _listing(items: Sequence[str], sep: str = ", ") -> str:
    if len(items) <= _SHOWN:
        return sep.join(items)
    return sep.join(items[:_SHOWN]) + f"{sep}... ({len(items) - _SHOWN} more)"


def _summary(file: Path, spec: WorkflowSpec, graph: TaskGraph, inputs: dict[str, Any]) -> None:
    console = stdout_console()
    path: CriticalPath = graph.critical_path()
    input_tokens = sum(n.input_tokens for n in graph)
    output_tokens = sum(n.expected_output_tokens for n in graph)
    plans = sum(1 for n in graph if n.kind == "plan")
    head = Text(f"{file}: ", style="bold")
    head.append(f"workflow {spec.name!r} is valid", style="green")
    console.print(head)
    tasks = f"{len(graph)}" + (f" ({plans} expand into sub-DAGs at run time)" if plans else "")
    rows = [
        ("tasks", tasks),
        ("edges", str(graph.networkx.number_of_edges())),
        ("roots", _listing(graph.roots)),
        ("critical path", f"{_listing(path.tasks, ' -> ')} (~{path.duration:.1f} s estimated)"),
        (
            "expected tokens",
            f"{input_tokens + output_tokens:,} ({input_tokens:,} input + {output_tokens:,} output)",
        ),
    ]
    cost = predict(graph).cost_usd
    if cost is not None:
        rows.append(("estimated cost", f"${cost:.4f} (before prompt caching)"))
    missing = [name for name, spec_ in spec.inputs.items() if spec_.required and name not in inputs]
    if spec.inputs:
        shown = [f"{k}={json.dumps(v)}" for k, v in inputs.items()]
        shown += [f"{name} (required: --set {name}=VALUE)" for name in missing]
        rows.append(("inputs", ", ".join(shown)))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        line = Text(f"  {label + ':':<{width + 1}} ", style="bold")
        line.append(value)
        console.print(line)


def validate_command(
    file: _File,
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help="Input value, KEY=VALUE (repeatable).", metavar="KEY=VALUE"),
    ] = None,
) -> None:
    """Check a workflow file and summarise it: tasks, critical path, expected tokens."""
    spec, graph = _load(file)
    with config_errors():
        inputs = resolve_inputs(spec.inputs, sets or (), source=spec.source_map, require_all=False)
    _summary(file, spec, graph, inputs)


def graph_command(
    file: _File,
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", help="mermaid or dot.", metavar="FORMAT"),
    ] = "mermaid",
    output: _Output = None,
) -> None:
    """Print the task graph as Mermaid or Graphviz DOT, the critical path highlighted."""
    kind = fmt.strip().lower()
    if kind not in GRAPH_FORMATS:
        hint = did_you_mean(kind, GRAPH_FORMATS) or "choose one of: " + ", ".join(GRAPH_FORMATS)
        fail(f"unknown graph format {fmt!r}", hint)
    spec, graph = _load(file)
    critical = graph.critical_path().tasks
    if kind == "dot":
        text = graph.to_dot(name=spec.name, highlight=critical)
    else:
        text = graph.to_mermaid(highlight=critical)
    emit(text, output)


def schema_command(output: _Output = None) -> None:
    """Print the JSON Schema of the workflow format (for editors and CI checks)."""
    emit(json.dumps(WorkflowSpec.json_schema(), indent=2) + "\n", output)


def register(app: typer.Typer) -> None:
    """Add `validate`, `graph` and `schema` to the `dagwright` CLI."""
    app.command("validate")(validate_command)
    app.command("graph")(graph_command)
    app.command("schema")(schema_command)
