"""The checks behind `WorkflowSpec`: field validators, and the checks that span fields.

Field validators raise `PydanticCustomError`s of our own type, so their message and hint
survive pydantic's translation into `ConfigIssue`s. `cross_check` runs once the fields
are valid and returns every issue it finds instead of stopping at the first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import networkx as nx
from pydantic_core import PydanticCustomError

from orchestrator._yaml import confinement_problem
from orchestrator.config_errors import (
    CUSTOM_ERROR_TYPE,
    ConfigIssue,
    SourceMap,
    did_you_mean,
)
from orchestrator.graph import DEFAULT_MAX_TOKENS, dependency_problems
from orchestrator.limits import MODEL_CLASSES, model_class
from orchestrator.template import TemplateScope, template_issues

if TYPE_CHECKING:
    from orchestrator.spec import TaskSpec, WorkflowSpec

__all__ = [
    "IMPORT_PATH",
    "Upstream",
    "ancestor_masks",
    "bare_issue",
    "check_import_path",
    "check_model",
    "check_name",
    "check_output_schema",
    "check_pattern",
    "choice",
    "cross_check",
    "fail",
]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_VERSION_SUFFIX = re.compile(r"(?:[-.]\d+)?(?:-\d{8})?$")
IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
"""`package.module:name`, the form of tool and output-model references."""


def fail(message: str, hint: str | None = None) -> PydanticCustomError:
    """A validation error whose message and hint reach the `ConfigIssue` unchanged."""
    return PydanticCustomError(CUSTOM_ERROR_TYPE, message, {"hint": hint})


def bare_issue(where: str, message: str, hint: str | None = None) -> ConfigIssue:
    """An issue outside the YAML file (a `--set` argument, an import path): no file or line."""
    return ConfigIssue(file=None, line=None, path=where, message=message, hint=hint)


def choice(what: str, choices: tuple[str, ...]) -> Callable[[Any], Any]:
    """A before-validator refusing strings outside `choices`, with a did-you-mean."""

    def check(value: Any) -> Any:
        if isinstance(value, str) and value not in choices:
            hint = did_you_mean(value, choices) or "choose one of: " + ", ".join(choices)
            raise fail(f"unknown {what} {value!r}", hint)
        return value

    return check


def check_name(value: str) -> str:
    """Task, agent and input names: a letter, then letters, digits, '_' or '-'."""
    if not _NAME.match(value):
        raise fail(
            f"invalid name {value!r}",
            "start with a letter and use only letters, digits, '_' and '-', at most 64 characters",
        )
    return value


def check_model(value: str) -> str:
    """A model name of a known family, else the closest known name."""
    if model_class(value) is None:
        families = [f"claude-{name}" for name, _ in MODEL_CLASSES]
        known = "known model families: " + ", ".join(families)
        # Keep the user's version suffix, so 'claude-sonet-4-5' suggests 'claude-sonnet-4-5'.
        match = _VERSION_SUFFIX.search(value)
        suffix = match.group(0) if match else ""
        versioned = [f + suffix for f in families if model_class(f + suffix)]
        suggestion = did_you_mean(value, versioned or families)
        raise fail(f"unknown model {value!r}", f"{suggestion} {known}" if suggestion else known)
    return value


def check_import_path(value: str) -> str:
    """The `package.module:name` form (the import itself happens later, on demand)."""
    if not IMPORT_PATH.match(value):
        raise fail(f"invalid import path {value!r}", "write it as 'package.module:name'")
    return value


def check_output_schema(value: Any) -> Any:
    """An inline JSON Schema of an object, or an import path of a pydantic model."""
    if isinstance(value, str):
        return check_import_path(value)
    if not isinstance(value, dict):
        raise fail(f"output_schema must be a JSON Schema mapping or 'pkg.mod:Model', got {value!r}")
    if value.get("type") != "object":
        raise fail("an inline output_schema must have type: object", "add 'type: object'")
    if not isinstance(value.get("properties", {}), dict):
        raise fail("output_schema properties must be a mapping")
    return value


def check_pattern(value: str) -> str:
    """A context file pattern that stays inside the workflow's folder."""
    refused = confinement_problem(value)
    if refused is not None:
        raise fail(*refused)
    return value


@dataclass(frozen=True, slots=True)
class Upstream:
    """`x in upstream`: is task `x` a direct or transitive dependency of the task?"""

    masks: Mapping[str, int]
    bit: Mapping[str, int]
    task_id: str

    def __contains__(self, other: object) -> bool:
        index = self.bit.get(other) if isinstance(other, str) else None
        return index is not None and bool(self.masks[self.task_id] >> index & 1)


def ancestor_masks(tasks: list[TaskSpec]) -> tuple[dict[str, int], dict[str, int]]:
    """Each task's ancestors as a bitmask (bit i = tasks[i]): linear passes, no n^2 sets."""
    bit = {t.id: i for i, t in enumerate(tasks)}
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(bit)
    graph.add_edges_from((d, t.id) for t in tasks for d in t.depends_on)
    masks: dict[str, int] = {}
    for task_id in nx.topological_sort(graph):
        mask = 0
        for dep in graph.predecessors(task_id):
            mask |= masks[dep] | 1 << bit[dep]
        masks[task_id] = mask
    return masks, bit


def cross_check(spec: WorkflowSpec, source: SourceMap) -> list[ConfigIssue]:
    """Checks that span fields: dependencies, agents, token settings, templates."""
    structure = dependency_problems([(t.id, t.depends_on) for t in spec.tasks])
    issues = [source.issue(*problem) for problem in structure]
    # Upstream is only defined once the dependencies form a DAG.
    masks = ancestor_masks(spec.tasks) if not structure else None
    structured: dict[str, Any] = {}
    for task in spec.tasks:
        if task.kind == "step":
            structured[task.id] = None  # a function step's data has no declared schema
            continue
        agent = spec.agents.get(task.agent) if task.agent else None
        schema = task.output_schema or (agent.output_schema if agent else None)
        if schema is not None:
            props = schema.get("properties") if isinstance(schema, dict) else None
            structured[task.id] = list(props) if props is not None else None
    task_ids = [t.id for t in spec.tasks]
    for i, task in enumerate(spec.tasks):
        loc = ("tasks", i)
        agent = None
        if task.agent is not None:
            agent = spec.agents.get(task.agent)
            if agent is None:
                hint = did_you_mean(task.agent, spec.agents)
                hint = hint or ("declare it under agents" if not spec.agents else None)
                issues.append(source.issue((*loc, "agent"), f"unknown agent {task.agent!r}", hint))
        for j, name in enumerate((task.plan.agents or []) if task.plan is not None else []):
            if name not in spec.agents:
                hint = did_you_mean(name, spec.agents) or "declare it under agents"
                where = (*loc, "plan", "agents", j)
                issues.append(source.issue(where, f"unknown agent {name!r}", hint))
        max_tokens = task.max_tokens or (agent and agent.max_tokens) or DEFAULT_MAX_TOKENS
        expected = task.expected_output_tokens or (agent and agent.expected_output_tokens)
        if expected and expected > max_tokens:
            issues.append(
                source.issue(
                    (*loc, "expected_output_tokens"),
                    f"expected_output_tokens {expected} is more than max_tokens {max_tokens}",
                    "raise max_tokens or lower the estimate",
                )
            )
        scope = TemplateScope(
            inputs=list(spec.inputs),
            tasks=task_ids,
            upstream=Upstream(masks[0], masks[1], task.id) if masks is not None else None,
            structured=structured,
            depends_on_path=f"tasks[{i}].depends_on",
        )
        issues += template_issues(task.prompt, (*loc, "prompt"), scope, source)
    for name, agent_spec in spec.agents.items():
        scope = TemplateScope(inputs=list(spec.inputs))
        issues += template_issues(agent_spec.system, ("agents", name, "system"), scope, source)
    return issues
