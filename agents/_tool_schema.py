"""A tool's input schema from its Python signature and docstring (pure; no event loop).

`parse_docstring` reads the summary and the parameter descriptions of a Google-style
(`Args:`), NumPy-style (`Parameters` + dashes) or reST-style (`:param x:`) docstring.
`signature_model` turns a function's parameters into a pydantic model (types, defaults,
`Annotated[..., Field(...)]` metadata, docstring descriptions) whose JSON Schema is the
tool's `input_schema` and which validates the model's tool input.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

__all__ = [
    "Docstring",
    "ParamBinding",
    "bind_fields",
    "parse_docstring",
    "signature_model",
    "strip_titles",
]

_GOOGLE_PARAMS = frozenset(
    {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments"}
)
_GOOGLE_SECTION = re.compile(
    r"^(args|arguments|parameters|params|keyword args|keyword arguments|other parameters|"
    r"returns?|yields?|raises|examples?|notes?|attributes|see also|warnings?|references|"
    r"todo|methods):\s*$",
    re.IGNORECASE,
)
_NUMPY_RULE = re.compile(r"^-{3,}\s*$")
_GOOGLE_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_NUMPY_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?::.*)?$")
_REST_PARAM = re.compile(r"^:param\s+(?:[^:]*\s)?\*{0,2}(\w+)\s*:\s*(.*)$")
_REST_FIELD = re.compile(r"^:\w+")


@dataclass(frozen=True, kw_only=True, slots=True)
class Docstring:
    """What a docstring says: the summary (text before any section) and per-parameter text."""

    summary: str = ""
    params: Mapping[str, str] = field(default_factory=dict)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _join(parts: list[str]) -> str:
    return " ".join(p.strip() for p in parts if p.strip())


def _section_starts(lines: list[str]) -> list[tuple[int, str, str]]:
    """(line index, section name lowercased, style) of every top-level section header."""
    starts = []
    for i, line in enumerate(lines):
        if _indent(line) != 0 or not line.strip():
            continue
        if _GOOGLE_SECTION.match(line.strip()):
            starts.append((i, line.strip().rstrip(":").strip().lower(), "google"))
        elif i + 1 < len(lines) and _NUMPY_RULE.match(lines[i + 1]) and not _NUMPY_RULE.match(line):
            starts.append((i, line.strip().lower(), "numpy"))
        elif _REST_FIELD.match(line):
            starts.append((i, "rest", "rest"))
    return starts


def _google_params(body: list[str]) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    base = min((_indent(line) for line in body if line.strip()), default=0)
    current: list[str] | None = None
    for line in body:
        if not line.strip():
            continue
        entry = _GOOGLE_ENTRY.match(line.strip()) if _indent(line) == base else None
        if entry is not None:
            current = found.setdefault(entry.group(1), [])
            current.append(entry.group(2))
        elif current is not None:
            current.append(line)
    return {name: _join(parts) for name, parts in found.items()}


def _numpy_params(body: list[str]) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in body:
        if not line.strip():
            continue
        entry = _NUMPY_ENTRY.match(line) if _indent(line) == 0 else None
        if entry is not None:
            # "x, y : int" documents two parameters with one text.
            names = [n.strip().lstrip("*") for n in line.split(":")[0].split(",")]
            current = []
            for name in names:
                found[name] = current
        elif current is not None:
            current.append(line)
    return {name: _join(parts) for name, parts in found.items()}


def _rest_params(lines: list[str]) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        entry = _REST_PARAM.match(line.strip())
        if entry is not None:
            current = found.setdefault(entry.group(1), [])
            current.append(entry.group(2))
        elif _REST_FIELD.match(line.strip()):
            current = None
        elif current is not None and _indent(line) > 0:
            current.append(line)
    return {name: _join(parts) for name, parts in found.items()}


def parse_docstring(doc: str | None) -> Docstring:
    """The summary and parameter descriptions of a Google, NumPy or reST docstring."""
    if not doc or not doc.strip():
        return Docstring()
    lines = inspect.cleandoc(doc).splitlines()
    starts = _section_starts(lines)
    end_of_summary = starts[0][0] if starts else len(lines)
    summary = "\n".join(lines[:end_of_summary]).strip()
    params: dict[str, str] = {}
    bounds = [s[0] for s in starts] + [len(lines)]
    for (start, name, style), stop in zip(starts, bounds[1:], strict=True):
        if style == "google" and name in _GOOGLE_PARAMS:
            params.update(_google_params(lines[start + 1 : stop]))
        elif style == "numpy" and name in ("parameters", "other parameters"):
            params.update(_numpy_params(lines[start + 2 : stop]))
        elif style == "rest":
            params.update(_rest_params(lines[start:stop]))
    return Docstring(summary=summary, params={k: v for k, v in params.items() if v})


@dataclass(frozen=True, slots=True)
class ParamBinding:
    """How one validated field goes back into the call: positionally or by keyword."""

    name: str
    field: str
    positional: bool


def _has_description(annotation: Any) -> bool:
    if typing.get_origin(annotation) is not typing.Annotated:
        return False
    return any(isinstance(meta, FieldInfo) and meta.description for meta in annotation.__metadata__)


def signature_model(
    function: Callable[..., Any], *, model_name: str, descriptions: Mapping[str, str]
) -> type[BaseModel]:
    """A pydantic model of `function`'s parameters.

    Fields get neutral internal names and the parameter's name as alias, so parameters
    named like pydantic internals (`schema`, `model_config`, `_private`) still work.
    Raises `TypeError` for `*args`/`**kwargs` (no JSON Schema can describe them) and for
    annotations that cannot be resolved.
    """
    signature = inspect.signature(function)
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception as exc:  # NameError for an unresolvable forward reference, and kin
        raise TypeError(f"cannot resolve the type annotations: {exc}") from exc
    fields: dict[str, Any] = {}
    for index, (name, param) in enumerate(signature.parameters.items()):
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            star = "*" if param.kind is param.VAR_POSITIONAL else "**"
            raise TypeError(
                f"parameter {star}{name} cannot be described by a JSON Schema; use named parameters"
            )
        annotation = hints.get(name, Any)
        kwargs: dict[str, Any] = {"alias": name}
        if name in descriptions and not _has_description(annotation):
            kwargs["description"] = descriptions[name]
        default = ... if param.default is param.empty else param.default
        fields[f"p{index}"] = (annotation, Field(default, **kwargs))
    model: type[BaseModel] = create_model(
        model_name, __config__=ConfigDict(extra="forbid"), **fields
    )
    return model


def bind_fields(function: Callable[..., Any], model: type[BaseModel]) -> tuple[ParamBinding, ...]:
    """Which field of `model` feeds each parameter of `function` (matched by alias or name).

    A parameter with a default may be missing from the model; a required one may not.
    """
    by_name = {info.alias or name: name for name, info in model.model_fields.items()}
    bindings = []
    for name, param in inspect.signature(function).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        field_name = by_name.get(name)
        if field_name is None:
            if param.default is param.empty:
                raise TypeError(f"input model {model.__name__} has no field for parameter {name!r}")
            continue
        bindings.append(ParamBinding(name, field_name, param.kind is param.POSITIONAL_ONLY))
    return tuple(bindings)


def strip_titles(schema: Any) -> Any:
    """`schema` without pydantic's generated `title`s (tokens the model does not need).

    Only schema keywords are touched: a property that is itself named "title" stays.
    """
    if isinstance(schema, list):
        return [strip_titles(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in ("properties", "$defs", "definitions", "patternProperties"):
            out[key] = {name: strip_titles(sub) for name, sub in value.items()}
        elif key in ("default", "const", "enum", "examples"):
            out[key] = value  # literal values, not schemas
        else:
            out[key] = strip_titles(value)
    return out
