"""Tools: Python functions a worker's model may call, described to it by a JSON Schema.

```python
@tool
async def search(query: str, limit: int = 5) -> list[str]:
    '''Search the web.

    Args:
        query: What to look for.
        limit: How many results to return.
    '''

@tool(name="fetch_page", timeout=10.0)
def fetch(url: str) -> str: ...
```

The schema comes from the signature (types, defaults, `Annotated[..., Field(...)]`) and
the docstring (summary = the tool's description; `Args:` = parameter descriptions).
`await tool.invoke(input)` validates the model's input, runs the function (a sync one in
a worker thread) under the tool's timeout and returns a `ToolOutcome`; a failure of any
kind becomes an error outcome the model can read and react to, never an exception.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, overload

import pydantic_core
import structlog
from pydantic import BaseModel, ValidationError

from agents._tool_schema import (
    ParamBinding,
    bind_fields,
    parse_docstring,
    signature_model,
    strip_titles,
)

__all__ = ["Tool", "ToolOutcome", "as_tool", "tool"]

_log = structlog.get_logger("dagwright.tools")

#: The API's rule for custom tool names.
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolOutcome:
    """What a tool call produced: the text sent back as the `tool_result` content."""

    content: str
    is_error: bool = False


def _result_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    # pydantic's serialiser also handles models, dataclasses, dates and sets.
    return pydantic_core.to_json(value, fallback=str).decode()


def _validation_text(name: str, error: ValidationError) -> str:
    problems = []
    for err in error.errors(include_url=False):
        where = ".".join(str(part) for part in err["loc"]) or "<input>"
        problems.append(f"{where}: {err['msg']}")
    return f"invalid input for tool {name!r}: " + "; ".join(problems)


@dataclass(frozen=True, kw_only=True, eq=False)
class Tool:
    """A callable the model may use: name, description, input model and optional timeout.

    Build one with `@tool` or `Tool.from_function`; calling the `Tool` itself calls the
    original function unchanged (handy in tests). A hand-made `input_model` works too:
    each parameter of `function` takes the model field of its name (or alias).
    `timeout` (seconds) bounds one invocation; a sync function that times out keeps
    running in its thread (Python cannot stop a thread), but its result is dropped and
    the model is told it timed out.
    """

    name: str
    description: str
    function: Callable[..., Any]
    input_model: type[BaseModel]
    timeout: float | None = None
    _bindings: tuple[ParamBinding, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not _TOOL_NAME.match(self.name):
            raise ValueError(
                f"invalid tool name {self.name!r}: use 1-64 letters, digits, '_' or '-' "
                "(pass @tool(name=...) to choose another)"
            )
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError(f"tool {self.name!r}: timeout must be > 0 seconds, got {self.timeout}")
        try:
            bindings = bind_fields(self.function, self.input_model)
        except TypeError as exc:
            raise TypeError(f"tool {self.name!r}: {exc}") from None
        object.__setattr__(self, "_bindings", bindings)

    @classmethod
    def from_function(
        cls,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
    ) -> Tool:
        """Describe `function` as a tool; `TypeError` when its signature cannot be described."""
        if not callable(function):
            raise TypeError(f"a tool needs a function, got {type(function).__name__}")
        tool_name: str = name or str(getattr(function, "__name__", ""))
        doc = parse_docstring(inspect.getdoc(function))
        try:
            model = signature_model(
                function, model_name=f"{tool_name or 'tool'}_input", descriptions=doc.params
            )
        except TypeError as exc:
            raise TypeError(f"cannot make tool {tool_name!r} from {function!r}: {exc}") from None
        return cls(
            name=tool_name,
            description=description if description is not None else doc.summary,
            function=function,
            input_model=model,
            timeout=timeout,
        )

    @property
    def input_schema(self) -> dict[str, Any]:
        """The JSON Schema of the tool's input."""
        schema: dict[str, Any] = strip_titles(self.input_model.model_json_schema())
        return schema

    @property
    def definition(self) -> dict[str, Any]:
        """The tool as the Messages API's `tools` entry: name, description, input_schema."""
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
        }

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    async def invoke(self, input: Mapping[str, Any]) -> ToolOutcome:
        """Validate `input`, run the function under the timeout, and report the outcome.

        Never raises for a tool's failure (only cancellation propagates): invalid input,
        an exception and a timeout each become `ToolOutcome(is_error=True)`, so the model
        sees what went wrong and can try again.
        """
        try:
            validated = self.input_model.model_validate(dict(input))
        except ValidationError as exc:
            return ToolOutcome(content=_validation_text(self.name, exc), is_error=True)
        args = [getattr(validated, b.field) for b in self._bindings if b.positional]
        kwargs = {b.name: getattr(validated, b.field) for b in self._bindings if not b.positional}
        try:
            async with asyncio.timeout(self.timeout):
                result = await self._run(args, kwargs)
        except TimeoutError:
            _log.info("tool.timeout", tool=self.name, timeout=self.timeout)
            return ToolOutcome(
                content=f"tool {self.name!r} timed out after {self.timeout:g}s", is_error=True
            )
        except Exception as exc:
            _log.info("tool.error", tool=self.name, error=repr(exc))
            return ToolOutcome(content=f"{type(exc).__name__}: {exc}", is_error=True)
        try:
            return ToolOutcome(content=_result_text(result))
        except Exception as exc:  # an unserialisable result is the tool's failure too
            return ToolOutcome(
                content=f"tool {self.name!r} returned an unserialisable result: {exc}",
                is_error=True,
            )

    async def _run(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if inspect.iscoroutinefunction(self.function):
            return await self.function(*args, **kwargs)
        result = await asyncio.to_thread(self.function, *args, **kwargs)
        if inspect.isawaitable(result):  # e.g. a partial of an async function
            result = await result
        return result


@overload
def tool(function: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None, timeout: float | None = None
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a `Tool` of a function: `@tool` or `@tool(name=..., description=..., timeout=...)`."""
    if function is not None:
        return Tool.from_function(function, name=name, description=description, timeout=timeout)

    def decorate(func: Callable[..., Any]) -> Tool:
        return Tool.from_function(func, name=name, description=description, timeout=timeout)

    return decorate


def as_tool(value: Tool | Callable[..., Any]) -> Tool:
    """`value` itself if it is a `Tool`, else the function wrapped as one."""
    if isinstance(value, Tool):
        return value
    if callable(value):
        return Tool.from_function(value)
    raise TypeError(f"expected a Tool or a function, got {type(value).__name__}: {value!r}")
