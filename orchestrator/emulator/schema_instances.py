"""Seeded instances of JSON Schemas: what the emulator answers for structured output and
tool inputs.

Supported: `type` (one or a list), `object` (`properties`, `required`,
`additionalProperties`), `array` (`items`, `prefixItems`, `minItems`, `maxItems`,
`uniqueItems` best effort), `string` (`minLength`, `maxLength`, `enum`, common
`format`s: date-time, date, time, email, uri, uuid, ipv4, hostname), `integer` and
`number` (`minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `multipleOf`),
`boolean`, `null`, `const`, `enum`, `anyOf`, `oneOf` (one branch is chosen), `allOf`
(merged), and `$ref` to `#/$defs/...`, `#/definitions/...` or any local JSON pointer
(pydantic's schemas use `$defs`). `pattern` is not honoured. Numeric constraints that the
anthropic SDK moved into a description (`"...{minimum: 1, maxLength: 9}"`, because the
API's structured output does not take them) are honoured, as a model reading the
description would. Optional properties are
included with probability 1/2; recursion is cut at `MAX_DEPTH` by taking only required
properties, minimal arrays and non-recursive branches.

`extra_chars` lengthens every free-form string (no enum, const, format or maxLength
reached) by that many characters; `free_strings` counts them, so a caller can size an
instance to a target length in two passes with the same seed.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from typing import Any

from orchestrator.emulator._text import filler

__all__ = ["MAX_DEPTH", "SchemaInstances", "schema_instance"]

MAX_DEPTH = 8

_FORMATS = {"date-time", "date", "time", "email", "uri", "url", "uuid", "ipv4", "hostname"}

#: Constraints the SDK's `transform_schema` writes into descriptions as `{key: value, ...}`.
_HINTED = frozenset(
    {
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
    }
)
_HINT = re.compile(r"\{([^{}]*)\}\s*$")


def _with_hints(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """`schema` plus numeric constraints found at the end of its description."""
    description = schema.get("description")
    if not isinstance(description, str) or not description.endswith("}"):
        return schema
    found = _HINT.search(description)
    if found is None:
        return schema
    extra: dict[str, Any] = {}
    for part in found.group(1).split(","):
        key, sep, value = part.partition(":")
        key = key.strip()
        if sep and key in _HINTED and key not in schema:
            try:
                number = float(value)
            except ValueError:
                continue
            extra[key] = int(number) if number.is_integer() else number
    return {**schema, **extra} if extra else schema


class SchemaInstances:
    """One generation pass over a schema (holds the root for `$ref` and a counter)."""

    def __init__(self, root: Mapping[str, Any], rng: random.Random, *, extra_chars: int = 0):
        self.root = root
        self.rng = rng
        self.extra_chars = max(0, extra_chars)
        self.free_strings = 0

    def generate(self) -> Any:
        """An instance of the root schema."""
        return self._value(self.root, 0)

    def _resolve(self, ref: str) -> Mapping[str, Any]:
        if not ref.startswith("#"):
            raise ValueError(f"only local $ref is supported, got {ref!r}")
        node: Any = self.root
        for raw in ref[1:].lstrip("/").split("/") if ref != "#" else []:
            part = raw.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        if not isinstance(node, Mapping):
            raise ValueError(f"$ref {ref!r} does not point at a schema")
        return node

    def _value(self, schema: Any, depth: int) -> Any:
        if schema is True or not isinstance(schema, Mapping):
            return self._string({}, depth)
        schema = _with_hints(schema)
        if "$ref" in schema:
            target = self._resolve(str(schema["$ref"]))
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            return self._value({**target, **siblings} if siblings else target, depth + 1)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return self.rng.choice(list(schema["enum"]))
        if "allOf" in schema:
            return self._value(_merge(schema), depth)
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                branches = list(schema[key])
                if depth >= MAX_DEPTH:
                    simple = [b for b in branches if not _recursive(b)]
                    branches = simple or branches
                return self._value(self.rng.choice(branches), depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            options = [k for k in kind if k != "null"] if depth < MAX_DEPTH else ["null"]
            kind = self.rng.choice(options or list(kind))
        if kind is None:
            kind = _infer_type(schema)
        return self._typed(kind, schema, depth)

    def _typed(self, kind: str, schema: Mapping[str, Any], depth: int) -> Any:
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind == "integer":
            return self._integer(schema)
        if kind == "number":
            return self._number(schema)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        return self._string(schema, depth)

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        out: dict[str, Any] = {}
        for name, sub in properties.items():
            wanted = name in required or (depth < MAX_DEPTH and self.rng.random() < 0.5)
            if wanted:
                out[name] = self._value(sub, depth + 1)
        extra = schema.get("additionalProperties")
        if not properties and isinstance(extra, Mapping) and depth < MAX_DEPTH:
            for index in range(self.rng.randint(1, 2)):
                out[f"key_{index}"] = self._value(extra, depth + 1)
        minimum = int(schema.get("minProperties", 0))
        index = 0
        while len(out) < minimum:
            key = f"extra_{index}"
            index += 1
            if key not in out:
                out[key] = self._value(extra if isinstance(extra, Mapping) else {}, depth + 1)
        return out

    def _array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        prefix = list(schema.get("prefixItems") or [])
        items = schema.get("items")
        if isinstance(items, list):  # draft-4 tuple form
            prefix, items = items, schema.get("additionalItems", {})
        low = max(int(schema.get("minItems", 0)), 0)
        high = schema.get("maxItems")
        if depth >= MAX_DEPTH:
            count = max(low, len(prefix) if high is None else min(len(prefix), int(high)))
        else:
            top = low + 3 if high is None else min(int(high), max(low, 1) + 3)
            count = self.rng.randint(max(low, min(1, top)), max(low, top))
        out: list[Any] = []
        seen: set[str] = set()
        unique = bool(schema.get("uniqueItems"))
        attempts = 0
        while len(out) < count and attempts < count * 10 + 10:
            attempts += 1
            position = len(out)
            sub = prefix[position] if position < len(prefix) else items
            if sub is False:
                break
            value = self._value(sub if sub is not None else {}, depth + 1)
            if unique:
                marker = repr(value)
                if marker in seen:
                    continue
                seen.add(marker)
            out.append(value)
        return out

    def _integer(self, schema: Mapping[str, Any]) -> int:
        low, high = _bounds(schema, integer=True)
        step = schema.get("multipleOf")
        if isinstance(step, int) and step > 0:
            first, last = math.ceil(low / step), math.floor(high / step)
            return step * self.rng.randint(first, max(first, last))
        return self.rng.randint(int(low), int(max(low, high)))

    def _number(self, schema: Mapping[str, Any]) -> float:
        low, high = _bounds(schema, integer=False)
        value = round(low + (high - low) * self.rng.random(), 2)
        return min(max(value, low), high)

    def _string(self, schema: Mapping[str, Any], depth: int) -> str:
        fmt = schema.get("format")
        if fmt in _FORMATS:
            return self._formatted(str(fmt))
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        length = self.rng.randint(max(low, 8), max(low, 32))
        length += self.extra_chars
        self.free_strings += 1
        if high is not None:
            length = min(length, int(high))
        return filler(self.rng, max(low, length)).strip().ljust(max(low, length), "x")

    def _formatted(self, fmt: str) -> str:
        r = self.rng
        if fmt == "date-time":
            return (
                f"2025-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:00:00Z"
            )
        if fmt == "date":
            return f"2025-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"
        if fmt == "time":
            return f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:00Z"
        if fmt == "email":
            return f"user{r.randint(1, 999)}@example.com"
        if fmt in ("uri", "url"):
            return f"https://example.com/item/{r.randint(1, 9999)}"
        if fmt == "uuid":
            h = f"{r.getrandbits(128):032x}"
            return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"
        if fmt == "ipv4":
            return ".".join(str(r.randint(1, 254)) for _ in range(4))
        return f"host{r.randint(1, 99)}.example.com"


def schema_instance(schema: Mapping[str, Any], rng: random.Random, *, extra_chars: int = 0) -> Any:
    """One seeded instance of `schema`."""
    return SchemaInstances(schema, rng, extra_chars=extra_chars).generate()


def _infer_type(schema: Mapping[str, Any]) -> str:
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if "minimum" in schema or "maximum" in schema:
        return "number"
    return "string"


def _recursive(schema: Any) -> bool:
    """Whether a branch may recurse (contains a `$ref` or nested containers)."""
    if isinstance(schema, Mapping):
        if "$ref" in schema or schema.get("type") in ("object", "array"):
            return True
        return any(_recursive(v) for v in schema.values() if isinstance(v, Mapping | list))
    if isinstance(schema, list):
        return any(_recursive(v) for v in schema)
    return False


def _merge(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`allOf` flattened into one schema (properties and required are united)."""
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        if not isinstance(part, Mapping):
            continue
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = sorted({*merged.get("required", []), *value})
            else:
                merged.setdefault(key, value)
    return merged


def _number_or_none(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _bounds(schema: Mapping[str, Any], *, integer: bool) -> tuple[float, float]:
    """[low, high] from minimum/maximum/exclusive*; 100 wide around what is given."""
    unit = 1.0 if integer else 0.01
    low = _number_or_none(schema.get("minimum"))
    high = _number_or_none(schema.get("maximum"))
    ex_low = _number_or_none(schema.get("exclusiveMinimum"))
    ex_high = _number_or_none(schema.get("exclusiveMaximum"))
    if ex_low is not None:
        low = ex_low + unit if low is None else max(low, ex_low + unit)
    if ex_high is not None:
        high = ex_high - unit if high is None else min(high, ex_high - unit)
    if low is None and high is None:
        low, high = 0.0, 100.0
    elif low is None:
        assert high is not None
        low = high - 100.0
    elif high is None:
        high = low + 100.0
    assert low is not None and high is not None
    if integer:
        low, high = float(math.ceil(low)), float(math.floor(high))
    return low, max(low, high)
