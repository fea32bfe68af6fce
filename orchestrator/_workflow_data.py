"""A `Workflow`'s Python objects as workflow data (what a YAML file would say), and back.

Agents, output classes, limits and inputs become the plain data `WorkflowSpec` validates;
only fields that were given are written, so a Python workflow and the equivalent YAML
file give equal specs. Python objects are referred to by import path where one exists
(`"pkg.mod:name"`, checked against the already imported module); `dump_yaml` writes the
data as a file dagwright's loader accepts; `resolve_values` checks Python input values.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from pydantic import BaseModel

from agents._structured import schema_of
from agents.agent import Agent, OutputSchema
from agents.tools import Tool
from orchestrator.config_errors import ConfigError, ConfigIssue, did_you_mean
from orchestrator.inputs import InputSpec
from orchestrator.spec import LimitsSpec

__all__ = [
    "agent_data",
    "bare_issue",
    "dump_yaml",
    "import_path",
    "inputs_data",
    "limits_data",
    "resolve_values",
    "schema_data",
    "tool_paths",
]

_DEFAULT_MAX_TURNS = 10


def import_path(obj: Any) -> str | None:
    """`"pkg.mod:Name"` that imports `obj` itself, or None (`__main__`, locals, renamed).

    Only modules already imported are looked at: nothing is imported (or run) here.
    """
    module_name = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(module_name, str) or not isinstance(qualname, str):
        return None
    if module_name == "__main__" or "<locals>" in qualname:
        return None
    target: Any = sys.modules.get(module_name)
    for part in qualname.split("."):
        target = getattr(target, part, None)
    return f"{module_name}:{qualname}" if target is obj else None


def _tool_path(tool: Tool) -> str | None:
    path = import_path(tool.function)
    if path is None:
        return None
    module_name, _, qualname = path.partition(":")
    target: Any = sys.modules[module_name]
    for part in qualname.split("."):
        target = getattr(target, part)
    # The module holds either the Tool itself (`@tool`) or the plain function; a plain
    # function only round-trips when wrapping it again gives the same tool.
    if isinstance(target, Tool):
        return path if target is tool else None
    same = Tool.from_function(target).definition == tool.definition and tool.timeout is None
    return path if same else None


def tool_paths(tools: Iterable[Tool]) -> tuple[list[str], list[str]]:
    """(import paths of the tools that have one, names of those that have none)."""
    paths: list[str] = []
    missing: list[str] = []
    for tool in tools:
        path = _tool_path(tool)
        if path is None:
            missing.append(tool.name)
        else:
            paths.append(path)
    return paths, missing


def schema_data(schema: OutputSchema | str) -> tuple[dict[str, Any] | str, type[BaseModel] | None]:
    """(what the spec holds, the pydantic class the spec cannot name, if any).

    A pydantic class becomes its import path, or else its JSON Schema (and is returned,
    so the run can still validate into it).
    """
    if isinstance(schema, str):
        return schema, None
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        path = import_path(schema)
        return (path, None) if path is not None else (schema_of(schema), schema)
    return copy.deepcopy(dict(schema)), None


def agent_data(agent: Agent) -> dict[str, Any]:
    """The agent as an `AgentSpec`'s data (the `Agent` itself is what runs)."""
    paths, missing = tool_paths(agent.tools)
    fields: dict[str, Any] = {
        "model": agent.model,
        "system": agent.system or None,
        # All or nothing: the spec lists tools only when YAML could import each one.
        "tools": paths if paths and not missing else None,
        "output_schema": None,
        "max_turns": agent.max_turns if agent.max_turns != _DEFAULT_MAX_TURNS else None,
        "expected_output_tokens": agent.expected_output_tokens,
        "max_tokens": agent.max_tokens,
    }
    if agent.output_schema is not None:
        fields["output_schema"] = schema_data(agent.output_schema)[0]
    return {k: v for k, v in fields.items() if v is not None}


def limits_data(limits: str | Mapping[str, Any] | LimitsSpec | None) -> Any:
    """`"tier2"`, a mapping or a `LimitsSpec`, as the `limits` field's data."""
    if isinstance(limits, LimitsSpec):
        return limits.model_dump(mode="json", exclude_unset=True)
    if isinstance(limits, str):
        return {"tier": limits}
    return copy.deepcopy(dict(limits)) if limits is not None else None


def inputs_data(inputs: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Inputs as the `inputs` field's data (defaults, None for required, or `InputSpec`s)."""
    if not inputs:
        return None
    return {
        name: value.model_dump(mode="json", exclude_unset=True)
        if isinstance(value, InputSpec)
        else copy.deepcopy(value)
        for name, value in inputs.items()
    }


def bare_issue(where: str, message: str, hint: str | None = None) -> ConfigIssue:
    """An issue with no file or line (a value given to `run`)."""
    return ConfigIssue(file=None, line=None, path=where, message=message, hint=hint)


def resolve_values(declared: Mapping[str, InputSpec], given: Mapping[str, Any]) -> dict[str, Any]:
    """Python input values checked against the declared inputs; defaults filled in.

    A string given for a non-string input is parsed as `--set` would parse it.
    """
    issues: list[ConfigIssue] = []
    values = {name: spec.default for name, spec in declared.items() if not spec.required}
    for name, value in given.items():
        where = f"inputs[{name!r}]"
        spec = declared.get(name)
        if spec is None:
            hint = did_you_mean(name, declared) or (
                "known inputs: " + ", ".join(declared) if declared else "none declared"
            )
            issues.append(bare_issue(where, f"unknown input {name!r}", hint))
            continue
        kind = spec.value_type
        if isinstance(value, str) and kind != "string":
            try:
                value = spec.coerce(value)
            except ValueError as exc:
                issues.append(bare_issue(where, f"input {name!r}: {exc}, got {value!r}"))
                continue
        if not _fits(kind, value):
            message = f"input {name!r} must be of type {kind}, got {value!r}"
            issues.append(bare_issue(where, message))
            continue
        values[name] = value
    for name, spec in declared.items():
        if spec.required and name not in values:
            hint = f"pass inputs={{{name!r}: ...}}"
            issues.append(bare_issue(f"inputs[{name!r}]", f"input {name!r} is required", hint))
    if issues:
        raise ConfigError(issues)
    return values


def _fits(kind: str, value: Any) -> bool:
    if kind == "json":
        return True
    if isinstance(value, bool):
        return kind == "boolean"
    expected: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "integer": int,
        "number": (int, float),
        "boolean": bool,
    }
    return isinstance(value, expected[kind])


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # dagwright's loader refuses anchors and aliases


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(data: Any) -> str:
    """`data` as block-style YAML in its own key order; multi-line strings as `|` blocks."""
    text: str = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return text
