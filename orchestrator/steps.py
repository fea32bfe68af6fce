"""Function steps: plain Python nodes of a workflow (load, transform, call an external API).

```python
def merge(history: dict, risks: dict, inputs: dict) -> str: ...

wf.step("merge", merge, depends_on=["history", "risks"])
```

A step receives each dependency's result as a keyword argument named by the task id —
the dependency's structured data when it has some, else its text output — plus the run's
input values as `inputs` if it has a parameter of that name. A sync function runs in a
worker thread, an async one is awaited. What it returns becomes the step's result: a
`str` is its output; anything else must be JSON-able (pydantic models, dataclasses,
dicts, lists, numbers...) and becomes its data, with the JSON text as its output; None
is an empty output. Steps make no model call and take nothing from the budget.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable, Collection, Mapping
from typing import Any

import pydantic_core
from pydantic import BaseModel

from orchestrator.journal import TaskRecord
from orchestrator.runner import Executor, TaskContext, TaskOutput

__all__ = ["INPUTS_PARAMETER", "StepError", "StepExecutor", "StepFunction", "check_step_signature"]

StepFunction = Callable[..., Any]
"""A step's function: sync or async, dependencies' results as keyword arguments."""

INPUTS_PARAMETER = "inputs"
"""A step parameter of this name receives the run's input values (a dict)."""


class StepError(Exception):
    """A function step raised; the message names the step and the exception."""

    def __init__(self, task_id: str, error: BaseException) -> None:
        self.task_id = task_id
        self.error = error
        super().__init__(f"step {task_id!r} raised {type(error).__name__}: {error}")


def check_step_signature(task_id: str, function: StepFunction, depends_on: Collection[str]) -> None:
    """Check that `function` can take the step's arguments; `TypeError` saying the fix if not.

    Every dependency needs a parameter of its name (or `**kwargs`); every parameter
    without a default must be a dependency or `inputs`.
    """
    if not callable(function):
        raise TypeError(f"step {task_id!r}: expected a function, got {type(function).__name__}")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return  # builtins and some C callables: nothing to check, the call will tell
    params = signature.parameters
    name = getattr(function, "__qualname__", None) or repr(function)
    var_keyword = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for dep in depends_on:
        param = params.get(dep)
        if param is None and not var_keyword:
            raise TypeError(
                f"step {task_id!r} depends on {dep!r}, but {name}() has no parameter {dep!r}; "
                f"add one (it receives {dep!r}'s result), or accept **results"
            )
        if param is not None and param.kind is param.POSITIONAL_ONLY:
            raise TypeError(
                f"step {task_id!r}: parameter {dep!r} of {name}() is positional-only; "
                "results are passed by keyword"
            )
    for param in params.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        given = param.name in depends_on or param.name == INPUTS_PARAMETER
        if not given and param.default is param.empty:
            raise TypeError(
                f"step {task_id!r}: parameter {param.name!r} of {name}() is neither a "
                f"dependency nor {INPUTS_PARAMETER!r}; add {param.name!r} to depends_on, "
                "or give it a default"
            )


def result_of(record: TaskRecord) -> Any:
    """What a dependant step receives for `record`: its data, else its text output."""
    return record.data if record.data is not None else record.output


def _output(task_id: str, value: Any) -> TaskOutput:
    if value is None:
        return TaskOutput(output="")
    if isinstance(value, str):
        return TaskOutput(output=value)
    if isinstance(value, BaseModel):
        data = value.model_dump(mode="json")
    else:
        try:
            data = pydantic_core.to_jsonable_python(value)
        except pydantic_core.PydanticSerializationError as exc:
            raise TypeError(
                f"step {task_id!r} returned a {type(value).__name__}, which is not JSON-able "
                f"({exc}); return a str, or JSON-able data (dict, list, pydantic model...)"
            ) from None
    return TaskOutput(output=json.dumps(data, ensure_ascii=False), data=data)


class StepExecutor:
    """The runner's executor for function steps; other tasks go to `fallback`."""

    def __init__(
        self,
        steps: Mapping[str, StepFunction],
        *,
        inputs: Mapping[str, Any],
        fallback: Executor | None = None,
    ) -> None:
        self.steps = dict(steps)
        self.inputs = dict(inputs)
        self.fallback = fallback

    def arguments(self, ctx: TaskContext) -> dict[str, Any]:
        """The keyword arguments of the step's call: dependencies' results (and `inputs`)."""
        function = self.steps[ctx.task_id]
        kwargs = {dep: result_of(ctx.upstream[dep]) for dep in ctx.node.depends_on}
        try:
            params = inspect.signature(function).parameters
        except (TypeError, ValueError):
            return kwargs
        if INPUTS_PARAMETER in params and INPUTS_PARAMETER not in kwargs:
            kwargs[INPUTS_PARAMETER] = dict(self.inputs)
        return kwargs

    async def __call__(self, ctx: TaskContext) -> TaskOutput:
        if ctx.node.kind != "step":
            if self.fallback is None:
                raise RuntimeError(f"task {ctx.task_id!r} is not a function step")
            return await self.fallback(ctx)
        function = self.steps.get(ctx.task_id)
        if function is None:
            raise RuntimeError(f"step {ctx.task_id!r} has no function")
        kwargs = self.arguments(ctx)
        try:
            if inspect.iscoroutinefunction(function):
                value = await function(**kwargs)
            else:
                value = await asyncio.to_thread(function, **kwargs)
                if inspect.isawaitable(value):  # e.g. a partial of an async function
                    value = await value
        except Exception as exc:
            raise StepError(ctx.task_id, exc) from exc
        return _output(ctx.task_id, value)
