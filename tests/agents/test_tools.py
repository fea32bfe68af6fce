"""Tools: schemas from signatures and docstrings, invocation, errors and timeouts."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from agents import Tool, ToolOutcome, as_tool, tool
from agents._tool_schema import parse_docstring


class Point(BaseModel):
    x: int
    y: int


@tool
def search(query: str, limit: int = 5, tags: list[str] | None = None) -> list[str]:
    """Search the web for pages.

    Returns the best matches first.

    Args:
        query: What to look for,
            word for word.
        limit (int): How many results to return.
        tags: Optional filters.

    Returns:
        The page titles.
    """
    return [f"{query}-{i}" for i in range(limit)]


@tool(name="plot", timeout=2.0)
async def plot_point(
    point: Point,
    colour: Literal["red", "blue"] = "red",
    size: Annotated[float, Field(description="Marker size in points.", gt=0)] = 1.0,
) -> dict[str, Any]:
    """Plot one point.

    Parameters
    ----------
    point : Point
        Where to draw.
    colour : str, optional
        The colour.
    size : float
        Overridden by the Annotated description.
    """
    return {"x": point.x, "y": point.y, "colour": colour, "size": size}


def test_google_docstring_gives_description_and_parameter_texts() -> None:
    definition = search.definition
    assert set(definition) == {"name", "description", "input_schema"}
    assert definition["name"] == "search"
    assert (
        definition["description"] == "Search the web for pages.\n\nReturns the best matches first."
    )
    schema = definition["input_schema"]
    assert schema["type"] == "object"
    assert schema["required"] == ["query"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["query"] == {"type": "string", "description": "What to look for, word for word."}
    assert props["limit"] == {
        "type": "integer",
        "default": 5,
        "description": "How many results to return.",
    }
    assert props["tags"]["default"] is None
    assert {"type": "null"} in props["tags"]["anyOf"]
    assert "title" not in schema and all("title" not in p for p in props.values())


def test_numpy_docstring_nested_model_literal_and_annotated_field() -> None:
    assert plot_point.name == "plot" and plot_point.timeout == 2.0
    schema = plot_point.input_schema
    props = schema["properties"]
    assert schema["required"] == ["point"]
    assert props["point"]["description"] == "Where to draw."
    assert props["colour"]["enum"] == ["red", "blue"] and props["colour"]["default"] == "red"
    # Annotated[..., Field(description=...)] wins over the docstring
    assert props["size"]["description"] == "Marker size in points."
    assert props["size"]["exclusiveMinimum"] == 0
    # the nested model is described through $defs, its property named like a keyword kept
    assert "Point" in schema["$defs"]


def test_a_parameter_named_title_is_kept_in_the_schema() -> None:
    @tool
    def rename(title: str, schema: str = "s") -> str:
        """Rename a thing."""
        return title + schema

    props = rename.input_schema["properties"]
    assert set(props) == {"title", "schema"}
    assert props["title"] == {"type": "string"}


def test_rest_docstring_and_no_docstring() -> None:
    def rest(a: int, b: str) -> None:
        """Do it.

        :param a: The first.
        :param str b: The second,
            continued.
        :returns: nothing
        """

    doc = parse_docstring(rest.__doc__)
    assert doc.summary == "Do it."
    assert doc.params == {"a": "The first.", "b": "The second, continued."}

    def bare(n):  # deliberately unannotated
        return n

    made = Tool.from_function(bare)
    assert made.description == ""
    assert made.input_schema["properties"] == {"n": {}}  # no annotation: any JSON value


def test_explicit_name_and_description_override() -> None:
    made = tool(name="find", description="Find things.")(search.function)
    assert made.definition["name"] == "find"
    assert made.definition["description"] == "Find things."


def test_signatures_that_cannot_be_described_are_refused() -> None:
    def star(*args: int) -> None: ...

    def stars(**kwargs: int) -> None: ...

    with pytest.raises(TypeError, match=r"\*args"):
        tool(star)
    with pytest.raises(TypeError, match=r"\*\*kwargs"):
        tool(stars)
    with pytest.raises(ValueError, match="invalid tool name 'bad name'"):
        tool(name="bad name")(search.function)
    with pytest.raises(TypeError, match="expected a Tool or a function"):
        as_tool(42)  # type: ignore[arg-type]


def test_plain_functions_are_wrapped_and_tools_pass_through() -> None:
    def shout(text: str) -> str:
        """Shout."""
        return text.upper()

    wrapped = as_tool(shout)
    assert isinstance(wrapped, Tool) and wrapped.name == "shout"
    assert as_tool(search) is search
    assert search("q", 2) == ["q-0", "q-1"]  # the Tool still calls like the function


async def test_sync_tool_runs_in_a_thread_and_returns_json() -> None:
    seen: list[str] = []

    @tool
    def where(n: int) -> dict[str, int]:
        """Report the thread."""
        seen.append(threading.current_thread().name)
        return {"n": n * 2}

    outcome = await where.invoke({"n": 21})
    assert outcome == ToolOutcome(content='{"n":42}')
    assert seen and seen[0] != threading.main_thread().name


async def test_async_tool_with_nested_model_input() -> None:
    outcome = await plot_point.invoke({"point": {"x": 1, "y": 2}, "colour": "blue"})
    assert not outcome.is_error
    assert outcome.content == '{"x":1,"y":2,"colour":"blue","size":1.0}'


async def test_string_results_are_sent_as_is_and_models_as_json() -> None:
    @tool
    async def make(x: int) -> Point:
        """Make a point."""
        return Point(x=x, y=0)

    @tool
    def text() -> str:
        """Say hi."""
        return "hi there"

    assert (await make.invoke({"x": 3})).content == '{"x":3,"y":0}'
    assert (await text.invoke({})).content == "hi there"


async def test_invalid_input_becomes_an_error_outcome() -> None:
    outcome = await search.invoke({"limit": "many", "extra": 1})
    assert outcome.is_error
    assert outcome.content.startswith("invalid input for tool 'search': ")
    for part in ("query: Field required", "limit: Input should be a valid integer", "extra:"):
        assert part in outcome.content


async def test_an_exception_becomes_an_error_outcome() -> None:
    @tool
    def broken(x: int) -> int:
        """Fail."""
        raise RuntimeError(f"no luck with {x}")

    assert await broken.invoke({"x": 7}) == ToolOutcome(
        content="RuntimeError: no luck with 7", is_error=True
    )


@pytest.mark.looptime
async def test_a_slow_tool_times_out_as_an_error_outcome() -> None:
    @tool(timeout=5.0)
    async def slow(seconds: float) -> str:
        """Sleep."""
        await asyncio.sleep(seconds)
        return "done"

    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await slow.invoke({"seconds": 60}) == ToolOutcome(
        content="tool 'slow' timed out after 5s", is_error=True
    )
    assert loop.time() - start == pytest.approx(5.0)
    assert await slow.invoke({"seconds": 1}) == ToolOutcome(content="done")


async def test_an_unserialisable_result_becomes_an_error_outcome() -> None:
    class Opaque:
        def __str__(self) -> str:
            raise ValueError("cannot show")

    @tool
    def odd() -> Any:
        """Return something odd."""
        return Opaque()

    outcome = await odd.invoke({})
    assert outcome.is_error and "unserialisable" in outcome.content


async def test_positional_only_parameters_are_passed_positionally() -> None:
    @tool
    def pos(a: int, /, b: int = 1) -> int:
        """Add."""
        return a + b

    assert (await pos.invoke({"a": 2, "b": 3})).content == "5"


async def test_a_hand_made_input_model() -> None:
    class Input(BaseModel):
        city: str

    def weather(city: str) -> str:
        return f"sunny in {city}"

    made = Tool(name="weather", description="Weather.", function=weather, input_model=Input)
    assert (await made.invoke({"city": "Oslo"})).content == "sunny in Oslo"
    assert dataclasses.is_dataclass(made)
