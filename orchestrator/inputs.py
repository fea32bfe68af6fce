"""Workflow inputs: their declaration (`InputSpec`) and their values from `--set key=value`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

from orchestrator._spec_checks import bare_issue, choice, fail
from orchestrator.config_errors import ConfigError, ConfigIssue, SourceMap, did_you_mean

__all__ = ["InputSpec", "InputType", "parse_set", "resolve_inputs"]

InputType = Literal["string", "integer", "number", "boolean", "json"]

_FLAGS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_EXPECTED = {
    "boolean": "expected true or false",
    "integer": "expected an integer",
    "number": "expected a number",
    "json": "expected JSON",
}


class InputSpec(BaseModel):
    """A workflow input; without a default it must be given with `--set`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Any = None
    description: str = ""
    type: Annotated[InputType | None, BeforeValidator(choice("type", get_args(InputType)))] = None

    @property
    def required(self) -> bool:
        """True when no default was given."""
        return "default" not in self.model_fields_set

    @property
    def value_type(self) -> InputType:
        """The declared type, else the default's, else `string`."""
        if self.type is not None:
            return self.type
        if self.required or isinstance(self.default, str):
            return "string"
        return _type_of(self.default)

    @model_validator(mode="after")
    def _default_matches_type(self) -> InputSpec:
        kind = self.type
        if kind is not None and not self.required:
            allowed = {"string": str, "boolean": bool, "integer": int, "number": int | float}
            expected = allowed.get(kind, object)
            if not isinstance(self.default, expected) or (
                isinstance(self.default, bool) and kind in ("integer", "number")
            ):
                raise fail(f"default {self.default!r} is not of type {kind}")
        return self

    def coerce(self, raw: str) -> Any:
        """Parse a `--set` value for this input; `ValueError` says what was expected."""
        kind, text = self.value_type, raw.strip()
        try:
            if kind == "boolean":
                return _FLAGS[text.lower()]
            if kind in ("integer", "number"):
                return int(text) if kind == "integer" else float(text)
            return json.loads(text) if kind == "json" else raw
        except (KeyError, ValueError):
            raise ValueError(_EXPECTED[kind]) from None


def _type_of(value: Any) -> InputType:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return "number" if isinstance(value, float) else "json"


def parse_set(items: Iterable[str]) -> dict[str, tuple[str, str]]:
    """`["k=v", ...]` -> `{"k=v": ("k", "v")}`, keeping the last per key; `ConfigError` if bad."""
    parsed: dict[str, tuple[str, str]] = {}
    by_key: dict[str, str] = {}
    issues = []
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            issues.append(
                bare_issue(f"--set {item}", "expected KEY=VALUE", "e.g. --set topic='rate limits'")
            )
            continue
        if key in by_key:
            del parsed[by_key[key]]
        by_key[key] = item
        parsed[item] = (key, value)
    if issues:
        raise ConfigError(issues)
    return parsed


def resolve_inputs(
    inputs: Mapping[str, InputSpec],
    sets: Iterable[str] = (),
    *,
    source: SourceMap | None = None,
    require_all: bool = True,
) -> dict[str, Any]:
    """Input values: defaults overridden by `--set key=value` strings (last one wins).

    Raises `ConfigError` for unknown keys, values of the wrong type and, with
    `require_all`, inputs that have no default and were not set. Without `require_all`
    those are simply absent from the result (for checks that need no values).
    """
    source = source or SourceMap()
    issues: list[ConfigIssue] = []
    values = {name: spec.default for name, spec in inputs.items() if not spec.required}
    for arg, (key, raw) in parse_set(sets).items():
        where = f"--set {arg}"
        if key not in inputs:
            hint = did_you_mean(key, inputs) or (
                "known inputs: " + ", ".join(inputs) if inputs else "none declared"
            )
            issues.append(bare_issue(where, f"unknown input {key!r}", hint))
            continue
        try:
            values[key] = inputs[key].coerce(raw)
        except ValueError as exc:
            issues.append(bare_issue(where, f"input {key!r}: {exc}, got {raw!r}"))
    if require_all:
        for name, spec in inputs.items():
            if name not in values and spec.required:
                message, hint = f"input {name!r} is required", f"pass --set {name}=VALUE"
                issues.append(source.issue(("inputs", name), message, hint))
    if issues:
        raise ConfigError(issues)
    return values
