"""Safe loading: YAML that remembers the line of every node, and confined context files.

The document is built straight from the parser's event stream (libyaml's when installed,
else PyYAML's pure-Python parser), never through a composer: anchors and aliases are
refused at the first one, so alias bombs ("billion laughs") fail before anything is
expanded. Only the standard scalar, sequence and mapping tags are accepted; duplicate keys
are errors; the file size, node count and nesting depth are capped.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import yaml

from orchestrator.config_errors import ConfigError, ConfigIssue, Loc, SourceMap, format_loc

__all__ = [
    "YamlCaps",
    "YamlDocument",
    "confinement_problem",
    "load_yaml_file",
    "load_yaml_text",
    "read_confined_files",
]

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null")}
# Implicitly resolved dates stay text: a workflow has no use for datetime objects.
_TEXT_TAGS = {_TAG + "timestamp"}
_NO_ALIASES = "anchors and aliases are not supported; repeat the value instead"
_PARSER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml is ~5x faster


@dataclass(frozen=True, kw_only=True, slots=True)
class YamlCaps:
    """Limits on what the loader accepts; the defaults fit any sensible workflow."""

    max_bytes: int = 1_000_000
    max_nodes: int = 100_000
    max_depth: int = 64


@dataclass(frozen=True, kw_only=True, slots=True)
class YamlDocument:
    """Plain data (dicts, lists, str, int, float, bool, None) plus where each node came from."""

    data: Any
    source: SourceMap


class _Refused(Exception):
    """Stops loading at once (aliases, caps): nothing after it can be trusted."""

    def __init__(self, mark: Any, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message
        self.hint = hint


def load_yaml_file(path: Path, *, caps: YamlCaps | None = None) -> YamlDocument:
    """Read and load `path` (size checked before reading it whole)."""
    caps = caps or YamlCaps()
    name = str(path)
    try:
        size = path.stat().st_size
        if size > caps.max_bytes:
            raise _fail(name, None, f"file is {size} bytes, more than the cap of {caps.max_bytes}")
        raw = path.read_bytes()
    except OSError as exc:
        raise _fail(name, None, f"cannot read file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(name, None, f"file is not valid UTF-8 (byte {exc.start})") from None
    return load_yaml_text(text, file=name, caps=caps)


def load_yaml_text(
    text: str, *, file: str = "<string>", caps: YamlCaps | None = None
) -> YamlDocument:
    """Load one YAML document from `text`; every problem is a `ConfigError` naming `file`."""
    caps = caps or YamlCaps()
    if len(text.encode("utf-8")) > caps.max_bytes:
        raise _fail(file, None, f"document is larger than the cap of {caps.max_bytes} bytes")
    events: Generator[Any, None, None] = yaml.parse(text, Loader=_PARSER)  # type: ignore[assignment]
    builder = _Builder(events, file, caps)
    try:
        data = builder.document()
    except _Refused as exc:
        raise _fail(file, exc.mark, exc.message, exc.hint) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or "invalid YAML"
        raise _fail(file, mark, f"invalid YAML: {message}") from None
    except yaml.YAMLError as exc:
        raise _fail(file, None, f"invalid YAML: {exc}") from None
    finally:
        events.close()  # disposes of the parser
    if builder.issues:
        raise ConfigError(builder.issues)
    return YamlDocument(
        data=data,
        source=SourceMap(file=file, lines=builder.lines, block_starts=builder.block_starts),
    )


def _line(mark: Any) -> int | None:
    return mark.line + 1 if mark is not None else None


def _fail(file: str, mark: Any, message: str, hint: str | None = None) -> ConfigError:
    return ConfigError(
        [ConfigIssue(file=file, line=_line(mark), path="<document>", message=message, hint=hint)]
    )


class _Builder:
    """Builds plain data from parser events, recording lines and collecting issues."""

    # Events are typed Any: PyYAML's stubs do not know libyaml's event and mark classes.
    def __init__(self, events: Generator[Any, None, None], file: str, caps: YamlCaps) -> None:
        self._events = events
        self._ahead: Any = None
        self._file = file
        self._caps = caps
        self._count = 0
        self._last_key_mark: Any = None
        self._resolver = yaml.resolver.Resolver()
        self._constructor = yaml.constructor.SafeConstructor()
        self.lines: dict[Loc, int] = {(): 1}
        self.block_starts: dict[Loc, int] = {}
        self.issues: list[ConfigIssue] = []

    def _peek(self) -> Any:
        if self._ahead is None:
            self._ahead = next(self._events)
        return self._ahead

    def _next(self) -> Any:
        event = self._peek()
        self._ahead = None
        return event

    def _issue(self, loc: Loc, mark: Any, message: str, hint: str | None = None) -> None:
        path = format_loc(loc)
        self.issues.append(
            ConfigIssue(file=self._file, line=_line(mark), path=path, message=message, hint=hint)
        )

    def document(self) -> Any:
        self._next()  # stream start
        if isinstance(self._peek(), yaml.StreamEndEvent):
            raise _Refused(None, "the document is empty")
        self._next()  # document start
        data = self._node((), 1)
        self._next()  # document end
        extra = self._next()
        if not isinstance(extra, yaml.StreamEndEvent):
            raise _Refused(extra.start_mark, "expected one YAML document, found more")
        return data

    def _start(self, depth: int) -> Any:
        """The next node's first event, after the checks every node gets."""
        event = self._next()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(event.start_mark, f"alias '*{event.anchor}' is not allowed", _NO_ALIASES)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise _Refused(event.start_mark, f"anchor '&{anchor}' is not allowed", _NO_ALIASES)
        self._count += 1
        if self._count > self._caps.max_nodes:
            raise _Refused(event.start_mark, f"more than {self._caps.max_nodes} YAML nodes")
        if depth > self._caps.max_depth:
            raise _Refused(event.start_mark, f"nesting deeper than {self._caps.max_depth}")
        return event

    def _tag(self, event: Any, kind: type[yaml.Node]) -> str:
        if event.tag not in (None, "!"):
            return str(event.tag)
        value = event.value if kind is yaml.ScalarNode else None
        return str(self._resolver.resolve(kind, value, event.implicit))

    def _node(self, loc: Loc, depth: int) -> Any:
        event = self._start(depth)
        if isinstance(event, yaml.SequenceStartEvent):
            items: list[Any] = []
            while not isinstance(self._peek(), yaml.SequenceEndEvent):
                self.lines[(*loc, len(items))] = self._peek().start_mark.line + 1
                items.append(self._node((*loc, len(items)), depth + 1))
            self._next()
            return items if self._allowed(event, yaml.SequenceNode, {_TAG + "seq"}, loc) else None
        if isinstance(event, yaml.MappingStartEvent):
            mapping = self._mapping(loc, depth)
            return mapping if self._allowed(event, yaml.MappingNode, {_TAG + "map"}, loc) else None
        tag = self._tag(event, yaml.ScalarNode)
        if tag in _TEXT_TAGS:
            return event.value
        if not self._allowed(event, yaml.ScalarNode, _SCALAR_TAGS, loc):
            return None
        if event.style == "|" and loc:
            self.block_starts[loc] = event.start_mark.line + 2
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            return self._constructor.construct_object(node)
        except yaml.constructor.ConstructorError as exc:
            self._issue(loc, event.start_mark, f"invalid value: {exc.problem}")
            return None

    def _allowed(
        self, event: Any, kind: type[yaml.Node], allowed: str | set[str], loc: Loc
    ) -> bool:
        tag = self._tag(event, kind)
        if tag == allowed or tag in allowed:
            return True
        self._issue(
            loc,
            event.start_mark,
            f"tag {tag.replace(_TAG, '!!')!r} is not allowed",
            "only plain YAML values are accepted: no !!python or custom tags",
        )
        return False

    def _mapping(self, loc: Loc, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        while not isinstance(self._peek(), yaml.MappingEndEvent):
            name = self._key(loc, depth)
            if name is None:
                self._node(loc, depth + 1)  # the value of a refused key: read and drop
                continue
            key_mark = self._last_key_mark
            if name in first_seen:
                hint = f"first defined on line {first_seen[name]}"
                self._issue((*loc, name), key_mark, f"duplicate key {name!r}", hint)
                self._node((*loc, name), depth + 1)
                continue
            first_seen[name] = self.lines[(*loc, name)] = key_mark.line + 1
            out[name] = self._node((*loc, name), depth + 1)
        self._next()
        return out

    def _key(self, loc: Loc, depth: int) -> str | None:
        """The next mapping key as text, or None (with an issue) if it is not a plain one."""
        if not isinstance(self._peek(), yaml.ScalarEvent):
            mark = self._peek().start_mark
            self._node(loc, depth + 1)
            self._issue(loc, mark, "mapping keys must be plain scalars")
            return None
        event: Any = self._start(depth + 1)
        self._last_key_mark = event.start_mark
        tag = self._tag(event, yaml.ScalarNode)
        if tag == _TAG + "merge":
            self._issue(loc, event.start_mark, "merge keys ('<<') are not supported")
            return None
        if tag not in _SCALAR_TAGS | _TEXT_TAGS:
            self._allowed(event, yaml.ScalarNode, _SCALAR_TAGS, loc)
            return None
        return str(event.value)


def confinement_problem(pattern: str) -> tuple[str, str] | None:
    """Why `pattern` may not name a context file (absolute, `..`, empty), as (message, hint)."""
    if not pattern.strip():
        return "empty file pattern", "remove it"
    if PurePosixPath(pattern).is_absolute() or PureWindowsPath(pattern).is_absolute():
        return f"absolute path {pattern!r} is not allowed", "use a path relative to the workflow"
    if ".." in PurePosixPath(pattern.replace("\\", "/")).parts:
        return f"path {pattern!r} leaves the workflow's folder", "keep context files inside it"
    return None


def read_confined_files(
    patterns: Sequence[str], base_dir: Path, *, max_bytes: int
) -> tuple[list[tuple[str, str]], list[tuple[int, str, str | None]]]:
    """Read the files that `patterns` (paths or globs) name inside `base_dir`.

    Returns `(relative path, text)` pairs, sorted and without repeats, and problems as
    `(pattern index, message, hint)`. Symlinks are resolved and must stay inside
    `base_dir`, as must the patterns; the total size is capped at `max_bytes`.
    """
    base = base_dir.resolve()
    found: dict[str, str] = {}
    problems: list[tuple[int, str, str | None]] = []
    total = 0
    for i, pattern in enumerate(patterns):
        refused = confinement_problem(pattern)
        if refused is not None:
            problems.append((i, *refused))
            continue
        is_glob = any(c in pattern for c in "*?[")
        candidates = sorted(base.glob(pattern)) if is_glob else [base / pattern]
        files = [p for p in candidates if p.is_file()]
        if not files:
            problems.append((i, f"{pattern!r} matches no files in {base}", None))
        for path in files:
            relative = path.relative_to(base).as_posix()
            if not path.resolve().is_relative_to(base):
                message = f"{relative!r} resolves outside the workflow's folder (symlink)"
                problems.append((i, message, "copy the file into the folder"))
                continue
            if relative in found:
                continue
            total += path.stat().st_size
            if total > max_bytes:
                message = f"context files exceed the cap of {max_bytes} bytes at {relative!r}"
                problems.append((i, message, "use fewer or smaller files"))
                return sorted(found.items()), problems
            try:
                found[relative] = path.read_text("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                problems.append((i, f"cannot read {relative!r}: {exc}", None))
    return sorted(found.items()), problems
