"""Structured output: the schema sent to the API, validation of the answer, repair prompts.

Pure functions. The schema sent (`api_schema`) goes through the anthropic SDK's
`transform_schema`, which makes it acceptable to the API's structured output (objects
closed with `additionalProperties: false`, unsupported constraints moved into the
description); the answer is always validated against the original, stricter schema or
pydantic model, and a violation triggers a repair turn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
from anthropic import transform_schema
from pydantic import BaseModel, ValidationError

__all__ = [
    "OutputCheck",
    "api_schema",
    "check_output",
    "check_schema",
    "repair_prompt",
    "schema_of",
]

_FENCE = re.compile(r"^```(?:json)?\s*\n(.*)\n```$", re.DOTALL)
_MAX_ERRORS = 10


@dataclass(frozen=True, kw_only=True, slots=True)
class OutputCheck:
    """The verdict on one answer: the parsed data (None when invalid) and the problems."""

    data: Any = None
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the answer is valid."""
        return not self.errors


def schema_of(output: Mapping[str, Any] | type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of a pydantic model class, or a copy of a schema mapping."""
    if isinstance(output, type) and issubclass(output, BaseModel):
        return output.model_json_schema()
    return dict(output)


def check_schema(schema: Mapping[str, Any]) -> None:
    """Raise `ValueError` naming the problem if `schema` is not a valid JSON Schema."""
    validator_class = jsonschema.validators.validator_for(schema)
    try:
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"invalid output schema: {exc.message}") from None


def api_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`schema` in the form the API's structured output accepts (as-is if it cannot be)."""
    try:
        return transform_schema(dict(schema))
    except (ValueError, TypeError, AttributeError):
        # A schema the transform does not understand is sent unchanged: the API's 400 will
        # then name the problem better than a guess here could.
        return dict(schema)


def _unfenced(text: str) -> str:
    # Structured output is raw JSON; a fence can still appear when the schema was only
    # described in the prompt (e.g. a repair turn), and costs nothing to accept.
    stripped = text.strip()
    match = _FENCE.match(stripped)
    return match.group(1) if match else stripped


def _json_path(path: Any) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def check_output(
    text: str,
    *,
    model: type[BaseModel] | None = None,
    schema: Mapping[str, Any] | None = None,
) -> OutputCheck:
    """Parse and validate `text`: with `model` via pydantic, else against `schema`."""
    body = _unfenced(text)
    if model is not None:
        try:
            return OutputCheck(data=model.model_validate_json(body))
        except ValidationError as exc:
            problems = []
            for err in exc.errors(include_url=False)[:_MAX_ERRORS]:
                problems.append(f"{_json_path(err['loc'])}: {err['msg']}")
            return OutputCheck(errors=tuple(problems))
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        return OutputCheck(errors=(f"not valid JSON: {exc}",))
    if schema is None:
        return OutputCheck(data=data)
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    found = sorted(validator.iter_errors(data), key=lambda e: _json_path(e.absolute_path))
    if not found:
        return OutputCheck(data=data)
    problems = [f"{_json_path(e.absolute_path)}: {e.message}" for e in found[:_MAX_ERRORS]]
    return OutputCheck(errors=tuple(problems))


def repair_prompt(errors: tuple[str, ...] | list[str]) -> str:
    """The user turn asking the model to correct an invalid structured answer."""
    listing = "\n".join(f"- {e}" for e in errors)
    return (
        "Your previous answer is not valid for the required JSON schema:\n"
        f"{listing}\n"
        "Reply with the corrected JSON only: no prose, no code fence."
    )
