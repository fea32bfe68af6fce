"""Sandboxed prompt templates: `{{ inputs.topic }}`, `{{ tasks.research.output }}`.

Deliberately tiny: an expression is a dotted path looked up in plain dicts and lists,
optionally piped through a filter (`| json`, `| trim`). There is no attribute access,
no calls, no evaluation, so a template cannot reach Python objects. References are
checked statically (`check_template`) before any run; rendering looks values up only in
plain data (dict, list, str, numbers, bool, None).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Container, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.config_errors import ConfigIssue, Loc, SourceMap, closest, did_you_mean

__all__ = [
    "FILTERS",
    "Expression",
    "Template",
    "TemplateError",
    "TemplateProblem",
    "TemplateScope",
    "check_template",
    "template_issues",
]

_SEGMENT = re.compile(r"[A-Za-z][A-Za-z0-9_-]*|\d+")
_NAMESPACES = ("inputs", "tasks")
_TASK_FIELDS = ("data", "output")


class TemplateError(ValueError):
    """A template that cannot be parsed or rendered; `offset` points into its text."""

    def __init__(self, message: str, *, offset: int = 0, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.hint = hint


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    indent = 2 if isinstance(value, dict | list | tuple) else None
    return json.dumps(value, ensure_ascii=False, indent=indent)


#: Filters by name: each takes the looked-up value and returns text.
FILTERS: Mapping[str, Callable[[Any], str]] = {
    "json": lambda v: json.dumps(v, ensure_ascii=False, indent=2),
    "trim": lambda v: _to_text(v).strip(),
}


@dataclass(frozen=True, slots=True)
class Expression:
    """One `{{ ... }}`: a dotted path and its filters; `offset` is where it starts."""

    path: tuple[str, ...]
    filters: tuple[str, ...]
    offset: int
    text: str


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: literal text and expressions, in order."""

    source: str
    parts: tuple[str | Expression, ...]

    @classmethod
    def parse(cls, source: str) -> Template:
        """Parse `source`; `\\{{` writes a literal `{{`. Raises `TemplateError`."""
        parts: list[str | Expression] = []
        literal: list[str] = []
        pos = 0
        while True:
            start = source.find("{{", pos)
            if start < 0:
                literal.append(source[pos:])
                break
            if start > 0 and source[start - 1] == "\\":
                literal.append(source[pos : start - 1] + "{{")
                pos = start + 2
                continue
            end = source.find("}}", start + 2)
            if end < 0:
                raise TemplateError(
                    "unclosed '{{'", offset=start, hint="close it with '}}' or write '\\{{'"
                )
            literal.append(source[pos:start])
            parts.append("".join(literal))
            literal = []
            parts.append(_parse_expression(source[start + 2 : end], start))
            pos = end + 2
        parts.append("".join(literal))
        return cls(source=source, parts=tuple(p for p in parts if p != ""))

    @property
    def expressions(self) -> tuple[Expression, ...]:
        """The expressions, in order of appearance."""
        return tuple(p for p in self.parts if isinstance(p, Expression))

    @property
    def task_refs(self) -> frozenset[str]:
        """Ids of the tasks whose results this template uses."""
        return frozenset(
            e.path[1] for e in self.expressions if len(e.path) > 1 and e.path[0] == "tasks"
        )

    def render(self, values: Mapping[str, Any]) -> str:
        """Render with `values` = `{"inputs": {...}, "tasks": {id: {"output", "data"}}}`."""
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = _lookup(values, part)
            if not part.filters:
                out.append(_to_text(value))
                continue
            for name in part.filters:
                value = FILTERS[name](value)
            out.append(value)
        return "".join(out)


def _parse_expression(body: str, offset: int) -> Expression:
    text = "{{" + body + "}}"
    pipeline = [piece.strip() for piece in body.split("|")]
    path_text, filters = pipeline[0], tuple(pipeline[1:])
    if not path_text:
        raise TemplateError(f"{text}: empty expression", offset=offset)
    segments = path_text.split(".")
    for segment in segments:
        if segment.startswith("_"):
            raise TemplateError(
                f"{text}: names starting with '_' are not allowed in templates", offset=offset
            )
        if not _SEGMENT.fullmatch(segment):
            raise TemplateError(
                f"{text}: expected a dotted name such as inputs.topic or tasks.research.output",
                offset=offset,
                hint="templates allow no calls, brackets, quotes or operators",
            )
    for name in filters:
        if name not in FILTERS:
            raise TemplateError(
                f"{text}: unknown filter {name!r}",
                offset=offset,
                hint=did_you_mean(name, FILTERS) or "filters: " + ", ".join(sorted(FILTERS)),
            )
    return Expression(path=tuple(segments), filters=filters, offset=offset, text=text)


def _lookup(values: Mapping[str, Any], expr: Expression) -> Any:
    # Only dict keys and list indices: never getattr, so nothing reaches Python objects.
    current: Any = values
    for depth, segment in enumerate(expr.path):
        where = ".".join(expr.path[: depth + 1])
        if isinstance(current, dict):
            if segment not in current:
                raise TemplateError(f"{expr.text}: {where!r} has no value", offset=expr.offset)
            current = current[segment]
        elif isinstance(current, list | tuple) and segment.isdigit():
            if int(segment) >= len(current):
                message = f"{expr.text}: index {where!r} is out of range"
                raise TemplateError(message, offset=expr.offset)
            current = current[int(segment)]
        else:
            raise TemplateError(
                f"{expr.text}: cannot look up {segment!r} in a {type(current).__name__}",
                offset=expr.offset,
            )
    if not _is_plain(current):
        raise TemplateError(f"{expr.text}: value is not plain data", offset=expr.offset)
    return current


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_is_plain(v) for v in value)
    return False


@dataclass(frozen=True, kw_only=True, slots=True)
class TemplateScope:
    """What a template may reference.

    `upstream`: task ids it may use (None: any task); `structured`: tasks with an output
    schema, mapped to their top-level field names (None when not known statically).
    """

    inputs: Collection[str]
    tasks: Collection[str] = ()
    upstream: Container[str] | None = None
    structured: Mapping[str, Collection[str] | None] = field(default_factory=dict)
    depends_on_path: str = "depends_on"


@dataclass(frozen=True, kw_only=True, slots=True)
class TemplateProblem:
    """A bad reference found by `check_template`; `offset` points into the template text."""

    offset: int
    message: str
    hint: str | None = None


def check_template(template: Template, scope: TemplateScope) -> list[TemplateProblem]:
    """All bad references in `template` (unknown names, non-upstream tasks, bad fields)."""
    problems = []
    for expr in template.expressions:
        found = _check_expression(expr, scope)
        if found is not None:
            problems.append(TemplateProblem(offset=expr.offset, message=found[0], hint=found[1]))
    return problems


def _check_expression(expr: Expression, scope: TemplateScope) -> tuple[str, str | None] | None:
    path, text = expr.path, expr.text
    head = path[0]
    if head not in _NAMESPACES:
        head_hint = did_you_mean(head, _NAMESPACES) or "use inputs.NAME or tasks.ID.output"
        return f"{text}: unknown name {head!r}", head_hint
    if len(path) < 2:
        return f"{text}: name what to use, e.g. {head}.NAME", None
    name = path[1]
    if head == "inputs":
        if name not in scope.inputs:
            known = _known(scope.inputs) if scope.inputs else "declare it under inputs"
            return f"{text}: unknown input {name!r}", did_you_mean(name, scope.inputs) or known
        return None
    if not scope.tasks:
        return f"{text}: task results are not available here", "only inputs.NAME is"
    if name not in scope.tasks:
        return f"{text}: unknown task {name!r}", did_you_mean(name, scope.tasks)
    if scope.upstream is not None and name not in scope.upstream:
        return (
            f"{text}: task {name!r} is not upstream of this task",
            f"add {name!r} to {scope.depends_on_path}",
        )
    if len(path) < 3 or path[2] not in _TASK_FIELDS:
        got = repr(path[2]) if len(path) > 2 else "nothing"
        match = closest(path[2], _TASK_FIELDS) if len(path) > 2 else None
        field_hint = f"did you mean 'tasks.{name}.{match}'?" if match else None
        return f"{text}: expected tasks.{name}.output or tasks.{name}.data, got {got}", field_hint
    if path[2] == "output":
        if len(path) > 3:
            return (
                f"{text}: tasks.{name}.output is text and has no fields",
                f"use tasks.{name}.data.FIELD with an output_schema",
            )
        return None
    if name not in scope.structured:
        return f"{text}: task {name!r} has no output_schema", f"use tasks.{name}.output"
    fields = scope.structured[name]
    if len(path) > 3 and fields is not None and path[3] not in fields:
        hint = did_you_mean(path[3], fields) or _known(fields)
        return f"{text}: task {name!r} has no output field {path[3]!r}", hint
    return None


def _known(names: Collection[str]) -> str:
    return "known: " + ", ".join(sorted(names))


def template_issues(
    text: str, loc: Loc, scope: TemplateScope, source: SourceMap
) -> list[ConfigIssue]:
    """Parse and check the template `text` found at `loc`, as located `ConfigIssue`s."""
    try:
        template = Template.parse(text)
    except TemplateError as exc:
        line = source.text_line(loc, text, exc.offset)
        return [source.issue(loc, exc.message, exc.hint, line=line)]
    return [
        source.issue(loc, p.message, p.hint, line=source.text_line(loc, text, p.offset))
        for p in check_template(template, scope)
    ]
