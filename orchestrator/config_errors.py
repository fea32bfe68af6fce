"""Configuration errors: where (file, line, YAML path), what, and a did-you-mean."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = [
    "ConfigError",
    "ConfigIssue",
    "Loc",
    "SourceMap",
    "closest",
    "did_you_mean",
    "format_loc",
    "issues_from_validation_error",
]

Loc = tuple[str | int, ...]
"""A path into the configuration document, e.g. `("tasks", 2, "depends_on", 0)`."""

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

#: Error type used for our own pydantic errors; its ctx carries the hint.
CUSTOM_ERROR_TYPE = "dagwright"


def format_loc(loc: Loc) -> str:
    """`("tasks", 2, "depends_on", 0)` -> `tasks[2].depends_on[0]`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out or "<root>"


def closest(value: str, choices: Iterable[str]) -> str | None:
    """The choice most similar to `value`, if any is similar enough to be a likely typo."""
    options = sorted(set(choices))
    lowered = {c.lower(): c for c in options}
    if value.lower() in lowered:
        return lowered[value.lower()]
    matches = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(value: str, choices: Iterable[str]) -> str | None:
    """`"did you mean 'x'?"` for the closest choice, or None."""
    match = closest(value, choices)
    return f"did you mean {match!r}?" if match is not None else None


@dataclass(frozen=True, kw_only=True, slots=True)
class ConfigIssue:
    """One configuration mistake: file, line, YAML path, message and an optional hint."""

    file: str | None
    line: int | None
    path: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = f"{self.file}:{self.line}: " if self.line is not None else f"{self.file}: "
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.path}: {self.message}{hint}"


class ConfigError(Exception):
    """One or more configuration mistakes, reported together; `str()` gives one per line."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        # Stable sort: issues with a line first, in file order; the rest keep their order.
        ordered = sorted(issues, key=lambda i: (i.file or "", i.line is None, i.line or 0))
        if not ordered:
            raise ValueError("ConfigError needs at least one issue")
        self.issues: tuple[ConfigIssue, ...] = tuple(ordered)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(issue) for issue in self.issues)


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceMap:
    """Where each node of a loaded document came from, so issues can name file and line.

    `lines` maps a path to the 1-based line of its key (mappings) or item (sequences);
    `block_starts` maps a literal block scalar (`|`) to the line its text starts on.
    """

    file: str | None = None
    lines: Mapping[Loc, int] = field(default_factory=dict)
    block_starts: Mapping[Loc, int] = field(default_factory=dict)

    def line(self, loc: Loc) -> int | None:
        """The line of `loc`, or of its nearest ancestor the document has."""
        for end in range(len(loc), -1, -1):
            found = self.lines.get(loc[:end])
            if found is not None:
                return found
        return None

    def text_line(self, loc: Loc, text: str, offset: int) -> int | None:
        """The line of character `offset` inside the string at `loc`."""
        start = self.block_starts.get(loc)
        if start is None:
            return self.line(loc)
        return start + text.count("\n", 0, offset)

    def issue(
        self, loc: Loc, message: str, hint: str | None = None, *, line: int | None = None
    ) -> ConfigIssue:
        """A `ConfigIssue` at `loc` (the line looked up unless given)."""
        return ConfigIssue(
            file=self.file,
            line=line if line is not None else self.line(loc),
            path=format_loc(loc),
            message=message,
            hint=hint,
        )


def issues_from_validation_error(
    error: ValidationError, source: SourceMap, root: type[BaseModel]
) -> list[ConfigIssue]:
    """Translate pydantic's errors into issues with lines, paths and did-you-means."""
    issues = []
    for err in error.errors(include_url=False):
        # pydantic marks errors in dict keys with a "[key]" step; the key itself is enough.
        loc: Loc = tuple(part for part in err["loc"] if part != "[key]")
        kind = err["type"]
        hint: str | None = None
        if kind == CUSTOM_ERROR_TYPE:
            message = err["msg"]
            hint = (err.get("ctx") or {}).get("hint")
        elif kind == "extra_forbidden":
            name = str(loc[-1])
            message = f"unknown field {name!r}"
            allowed = _fields_at(root, loc[:-1])
            hint = did_you_mean(name, allowed) if allowed else None
            if hint is None and allowed:
                hint = "allowed: " + ", ".join(sorted(allowed))
        elif kind == "missing":
            message = f"missing required field {str(loc[-1])!r}"
        else:
            msg = err["msg"]
            message = f"{msg[:1].lower()}{msg[1:]}, got {_short(err.get('input'))}"
        issues.append(source.issue(loc, message, hint))
    return issues


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fields_at(root: type[BaseModel], loc: Loc) -> Collection[str]:
    """The field names of the model found by following `loc` from `root` (empty if none)."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return ()
            current = info.annotation
        elif typing.get_origin(current) in (list, tuple, dict):
            current = typing.get_args(current)[-1] if typing.get_args(current) else None
        else:
            return ()
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return ()


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> `X`; `Annotated[X, ...]` -> `X`."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation
