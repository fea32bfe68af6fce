"""Seeded JSON Schema instances are valid, checked by pydantic round trips and by hand."""

from __future__ import annotations

import json
import random
from enum import StrEnum
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from orchestrator.emulator import schema_instance


class Kind(StrEnum):
    RESEARCH = "research"
    WRITE = "write"


class Step(BaseModel):
    id: str = Field(min_length=1, max_length=40)
    kind: Kind
    depends_on: list[str] = Field(default_factory=list, max_length=4)
    estimate: Annotated[int, Field(ge=1, le=50_000)]
    weight: float = Field(gt=0.0, lt=1.0)
    note: str | None = None


class Plan(BaseModel):
    goal: str
    steps: list[Step] = Field(min_length=1, max_length=8)
    mode: Literal["fast", "thorough"]
    tags: dict[str, int] = Field(default_factory=dict)
    done: bool
    parent: Plan | None = None  # recursive, through $ref


@pytest.mark.parametrize("seed", range(40))
def test_pydantic_schema_instances_validate(seed: int) -> None:
    schema = Plan.model_json_schema()
    value = schema_instance(schema, random.Random(seed))
    Plan.model_validate_json(json.dumps(value))


def _valid(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> bool:
    """A tiny validator for the keywords the generator claims to support."""
    if "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        return _valid(value, root["$defs"][name], root)
    if "const" in schema:
        return bool(value == schema["const"])
    if "enum" in schema:
        return value in schema["enum"]
    if "anyOf" in schema:
        return any(_valid(value, s, root) for s in schema["anyOf"])
    if "oneOf" in schema:
        return sum(_valid(value, s, root) for s in schema["oneOf"]) == 1
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        if not isinstance(value, dict) or not set(schema.get("required", [])) <= set(value):
            return False
        return all(_valid(v, props[k], root) for k, v in value.items() if k in props)
    if kind == "array":
        if not isinstance(value, list):
            return False
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", 10**9):
            return False
        return all(_valid(v, schema.get("items", {}), root) for v in value)
    if kind == "string":
        return isinstance(value, str) and (
            schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", 10**9)
        )
    if kind == "integer":
        return (
            isinstance(value, int)
            and schema.get("minimum", -(10**18)) <= value <= schema.get("maximum", 10**18)
            and value % schema.get("multipleOf", 1) == 0
        )
    if kind == "number":
        return isinstance(value, int | float) and (
            schema.get("exclusiveMinimum", -(10**18))
            < value
            < schema.get("exclusiveMaximum", 10**18)
        )
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    return True


HAND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "$defs": {
        "leaf": {"type": "object", "properties": {"v": {"const": 3}}, "required": ["v"]},
        "node": {
            "type": "object",
            "properties": {
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2},
                "label": {"type": "string", "minLength": 3, "maxLength": 5},
            },
            "required": ["label"],
        },
    },
    "properties": {
        "n": {"type": "integer", "minimum": 10, "maximum": 20, "multipleOf": 5},
        "x": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "choice": {"oneOf": [{"type": "null"}, {"type": "boolean"}]},
        "either": {"anyOf": [{"$ref": "#/$defs/leaf"}, {"type": "string", "enum": ["a", "b"]}]},
        "tree": {"$ref": "#/$defs/node"},
        "list": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 3},
    },
    "required": ["n", "x", "choice", "either", "tree", "list"],
}


@pytest.mark.parametrize("seed", range(40))
def test_hand_written_schema_instances_validate(seed: int) -> None:
    value = schema_instance(HAND_SCHEMA, random.Random(seed))
    assert _valid(value, HAND_SCHEMA, HAND_SCHEMA), value


def test_all_of_formats_and_type_lists() -> None:
    schema = {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "string", "format": "uuid"}}},
            {"properties": {"b": {"type": ["integer", "null"]}}, "required": ["a", "b"]},
        ]
    }
    value = schema_instance(schema, random.Random(0))
    assert set(value) >= {"a", "b"}
    assert len(value["a"]) == 36 and value["a"].count("-") == 4
    assert value["b"] is None or isinstance(value["b"], int)


def test_same_seed_same_instance() -> None:
    schema = Plan.model_json_schema()
    assert schema_instance(schema, random.Random(5)) == schema_instance(schema, random.Random(5))


@pytest.mark.parametrize("seed", range(20))
def test_constraints_the_sdk_moved_into_descriptions_are_honoured(seed: int) -> None:
    from anthropic.lib._parse._transform import transform_schema

    schema = transform_schema(Plan.model_json_schema())
    value = schema_instance(schema, random.Random(seed))
    Plan.model_validate_json(json.dumps(value))
