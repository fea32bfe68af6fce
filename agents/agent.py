"""`Agent`: a reusable worker definition — model, system prompt, tools, output schema, limits.

```python
researcher = Agent(
    "researcher",
    system="You research one question and answer with sources.",
    tools=[search, fetch_page],          # Tools, or plain functions (wrapped with `tool`)
    output_schema=Findings,              # a pydantic model class or a JSON Schema dict
    max_turns=8,
)
```

`Agent.from_spec` builds one from a workflow's `AgentSpec`, importing its tools by
`"pkg.mod:func"` path. That import runs the named module's code: a workflow's tools are
code by design, like a Makefile's commands, so only run workflows you trust. Every tool
is resolved before a run starts, and all problems are reported together as one
`ConfigError`.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from agents._structured import check_schema, schema_of
from agents.tools import Tool, as_tool
from orchestrator.config_errors import ConfigError, ConfigIssue, SourceMap, did_you_mean

if TYPE_CHECKING:
    from orchestrator.spec import AgentSpec

__all__ = ["Agent", "OutputSchema"]

OutputSchema = Mapping[str, Any] | type[BaseModel]
"""A structured-output schema: a JSON Schema mapping or a pydantic model class."""


@dataclass(frozen=True, kw_only=True, init=False)
class Agent:
    """A worker's definition; the same agent can run many tasks.

    `model` None means the workflow's default model. `tools` are `Tool`s (plain functions
    are wrapped with `tool`). `max_turns` bounds the model calls of one task's tool loop;
    `expected_output_tokens` (per turn) and `max_tokens` size the budget's reservation.
    """

    name: str
    model: str | None
    system: str
    tools: tuple[Tool, ...]
    output_schema: OutputSchema | None
    max_turns: int
    expected_output_tokens: int | None
    max_tokens: int | None

    def __init__(
        self,
        name: str,
        *,
        model: str | None = None,
        system: str = "",
        tools: Iterable[Tool | Callable[..., Any]] = (),
        output_schema: OutputSchema | None = None,
        max_turns: int = 10,
        expected_output_tokens: int | None = None,
        max_tokens: int | None = None,
    ) -> None:
        if max_turns < 1:
            raise ValueError(f"agent {name!r}: max_turns must be >= 1, got {max_turns}")
        for label, value in (
            ("expected_output_tokens", expected_output_tokens),
            ("max_tokens", max_tokens),
        ):
            if value is not None and value < 1:
                raise ValueError(f"agent {name!r}: {label} must be >= 1 (or None), got {value}")
        resolved = tuple(as_tool(t) for t in tools)
        seen: set[str] = set()
        for t in resolved:
            if t.name in seen:
                raise ValueError(
                    f"agent {name!r}: two tools are named {t.name!r}; "
                    "rename one with @tool(name=...)"
                )
            seen.add(t.name)
        if output_schema is not None:
            if isinstance(output_schema, Mapping):
                check_schema(output_schema)
            elif not (isinstance(output_schema, type) and issubclass(output_schema, BaseModel)):
                raise TypeError(
                    f"agent {name!r}: output_schema must be a JSON Schema mapping or a "
                    f"pydantic model class, got {output_schema!r}"
                )
        # A frozen dataclass with its own __init__ (to accept plain functions as tools).
        set_ = object.__setattr__
        set_(self, "name", name)
        set_(self, "model", model)
        set_(self, "system", system)
        set_(self, "tools", resolved)
        set_(self, "output_schema", output_schema)
        set_(self, "max_turns", max_turns)
        set_(self, "expected_output_tokens", expected_output_tokens)
        set_(self, "max_tokens", max_tokens)

    @property
    def output_model(self) -> type[BaseModel] | None:
        """The output's pydantic model class, when the schema is one."""
        schema = self.output_schema
        return schema if isinstance(schema, type) else None

    @property
    def output_json_schema(self) -> dict[str, Any] | None:
        """The output's JSON Schema (a pydantic model's schema, or the mapping given)."""
        return None if self.output_schema is None else schema_of(self.output_schema)

    def tool(self, name: str) -> Tool:
        """The tool named `name` (`KeyError` with a did-you-mean otherwise)."""
        for candidate in self.tools:
            if candidate.name == name:
                return candidate
        hint = did_you_mean(name, [t.name for t in self.tools])
        raise KeyError(f"agent {self.name!r} has no tool {name!r}" + (f"; {hint}" if hint else ""))

    @classmethod
    def from_spec(
        cls,
        name: str,
        spec: AgentSpec,
        *,
        base_dir: str | Path | None = None,
        source: SourceMap | None = None,
    ) -> Agent:
        """Build the agent named `name` of a workflow, importing its tools and output model.

        Import paths are resolved with `base_dir` (the workflow's folder) first on
        `sys.path`, so a `tools.py` next to the YAML file is found. This runs the
        imported modules' code. Raises `ConfigError` listing every tool that cannot be
        imported, does not exist, or is neither a function nor a `Tool`.
        """
        source = source or SourceMap()
        issues: list[ConfigIssue] = []
        tools: list[Tool] = []
        output_schema: OutputSchema | None = None
        with _importable_from(base_dir):
            for index, ref in enumerate(spec.tools):
                where = ("agents", name, "tools", index)
                found = _resolve_tool(ref, base_dir)
                if isinstance(found, Tool):
                    tools.append(found)
                else:
                    issues.append(source.issue(where, *found))
            if isinstance(spec.output_schema, str):
                from orchestrator.spec import resolve_output_model  # heavy; only when needed

                where_schema = ("agents", name, "output_schema")
                try:
                    output_schema = resolve_output_model(spec.output_schema)
                except ConfigError as exc:
                    issues += [source.issue(where_schema, i.message, i.hint) for i in exc.issues]
            else:
                output_schema = spec.output_schema
        names = [t.name for t in tools]
        for index, t in enumerate(tools):
            if t.name in names[:index]:
                issues.append(
                    source.issue(
                        ("agents", name, "tools"),
                        f"two tools are named {t.name!r}",
                        "rename one with @tool(name=...)",
                    )
                )
        if issues:
            raise ConfigError(issues)
        try:
            return cls(
                name,
                model=spec.model,
                system=spec.system,
                tools=tools,
                output_schema=output_schema,
                max_turns=spec.max_turns,
                expected_output_tokens=spec.expected_output_tokens,
                max_tokens=spec.max_tokens,
            )
        except (ValueError, TypeError) as exc:
            raise ConfigError([source.issue(("agents", name), str(exc))]) from None


@contextlib.contextmanager
def _importable_from(base_dir: str | Path | None) -> Iterator[None]:
    """`base_dir` first on `sys.path` while the block runs (imported modules stay loaded)."""
    if base_dir is None:
        yield
        return
    entry = str(Path(base_dir).resolve())
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(entry)


def _resolve_tool(ref: str, base_dir: str | Path | None) -> Tool | tuple[str, str | None]:
    """The tool named by `"pkg.mod:func"`, or (message, hint) saying why there is none."""
    module_name, _, attribute = ref.partition(":")
    if not module_name or not attribute:
        return f"invalid tool import path {ref!r}", "write it as 'package.module:function'"
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            where = f" or next to the workflow ({base_dir})" if base_dir is not None else ""
            hint = f"install it{where}; the path is 'package.module:function'"
            return f"cannot import tool module {module_name!r}: no module named {missing!r}", hint
        return f"importing tool module {module_name!r} failed: {exc}", "install what it imports"
    except Exception as exc:
        return f"importing tool module {module_name!r} raised {type(exc).__name__}: {exc}", None
    for part in attribute.split("."):
        if not hasattr(target, part):
            names = [n for n in dir(target) if not n.startswith("_")]
            return f"{module_name!r} has no attribute {attribute!r}", did_you_mean(part, names)
        target = getattr(target, part)
    if isinstance(target, Tool):
        return target
    if not callable(target):
        return (
            f"{ref!r} is not a function or a Tool (it is a {type(target).__name__} value)",
            "point the path at a function (optionally decorated with @tool)",
        )
    try:
        return Tool.from_function(target)
    except (TypeError, ValueError) as exc:
        return f"{ref!r} cannot be used as a tool: {exc}", None
