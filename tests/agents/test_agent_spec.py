"""Agent: construction checks, and building one from a workflow's AgentSpec."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from agents import Agent, Tool, tool
from orchestrator.config_errors import ConfigError, SourceMap
from orchestrator.spec import AgentSpec


class Answer(BaseModel):
    value: int


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return key


@pytest.fixture
def module_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder with a uniquely named tools module; unloaded again afterwards."""
    name = f"dw_tools_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            '''
            from agents import tool

            VERSION = 3

            @tool(name="fetch_page")
            def fetch(url: str) -> str:
                """Fetch a page."""
                return url

            def count(text: str) -> int:
                """Count characters."""
                return len(text)

            def splat(*args: int) -> int:
                return 0
            '''
        )
    )
    yield tmp_path, name
    sys.modules.pop(name, None)


def test_defaults_and_plain_functions_become_tools() -> None:
    def shout(text: str) -> str:
        """Shout."""
        return text.upper()

    agent = Agent("writer", tools=[lookup, shout], output_schema=Answer)
    assert agent.model is None and agent.system == "" and agent.max_turns == 10
    assert [t.name for t in agent.tools] == ["lookup", "shout"]
    assert all(isinstance(t, Tool) for t in agent.tools)
    assert agent.tool("shout").function is shout
    assert agent.output_model is Answer
    assert agent.output_json_schema == Answer.model_json_schema()
    with pytest.raises(KeyError, match="did you mean 'lookup'"):
        agent.tool("lokup")


def test_invalid_settings_are_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="max_turns must be >= 1, got 0"):
        Agent("a", max_turns=0)
    with pytest.raises(ValueError, match="two tools are named 'lookup'"):
        Agent("a", tools=[lookup, lookup])
    with pytest.raises(ValueError, match="invalid output schema"):
        Agent("a", output_schema={"type": "object", "properties": {"x": {"type": 12}}})
    with pytest.raises(TypeError, match="output_schema must be"):
        Agent("a", output_schema=int)  # type: ignore[arg-type]


def test_from_spec_imports_tools_next_to_the_workflow(module_dir: tuple[Path, str]) -> None:
    folder, name = module_dir
    spec = AgentSpec(
        model="claude-sonnet-4-5",
        system="Be brief.",
        tools=[f"{name}:fetch", f"{name}:count"],
        output_schema={"type": "object", "properties": {"n": {"type": "integer"}}},
        max_turns=4,
        expected_output_tokens=300,
        max_tokens=1200,
    )
    agent = Agent.from_spec("reader", spec, base_dir=folder)
    assert [t.name for t in agent.tools] == ["fetch_page", "count"]
    assert agent.model == "claude-sonnet-4-5" and agent.system == "Be brief."
    assert (agent.max_turns, agent.expected_output_tokens, agent.max_tokens) == (4, 300, 1200)
    assert agent.output_json_schema == spec.output_schema
    assert str(folder.resolve()) not in sys.path  # the folder was on sys.path only meanwhile


def test_from_spec_reports_every_bad_tool_at_once(module_dir: tuple[Path, str]) -> None:
    folder, name = module_dir
    spec = AgentSpec(
        tools=[
            "dw_no_such_module_xyz:tool",
            f"{name}:fecth",
            f"{name}:VERSION",
            f"{name}:splat",
        ]
    )
    source = SourceMap(file="wf.yaml", lines={("agents", "reader", "tools", 1): 12})
    with pytest.raises(ConfigError) as info:
        Agent.from_spec("reader", spec, base_dir=folder, source=source)
    lines = str(info.value).splitlines()
    assert len(lines) == 4
    by_path = {issue.path: issue for issue in info.value.issues}
    missing = by_path["agents.reader.tools[0]"]
    assert "cannot import tool module 'dw_no_such_module_xyz'" in missing.message
    assert missing.hint is not None and "next to the workflow" in missing.hint
    typo = by_path["agents.reader.tools[1]"]
    assert typo.line == 12 and typo.file == "wf.yaml"
    assert "has no attribute 'fecth'" in typo.message and typo.hint == "did you mean 'fetch'?"
    assert (
        "is not a function or a Tool (it is a int value)"
        in by_path["agents.reader.tools[2]"].message
    )
    assert "cannot be used as a tool" in by_path["agents.reader.tools[3]"].message


def test_from_spec_reports_a_module_that_fails_to_import(tmp_path: Path) -> None:
    name = f"dw_broken_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text("raise RuntimeError('boom at import')\n")
    with pytest.raises(ConfigError, match="raised RuntimeError: boom at import"):
        Agent.from_spec("a", AgentSpec(tools=[f"{name}:x"]), base_dir=tmp_path)
    sys.modules.pop(name, None)


def test_from_spec_resolves_an_output_model_path() -> None:
    spec = AgentSpec(output_schema=f"{__name__}:Answer")
    assert Agent.from_spec("a", spec).output_model is Answer
    bad = AgentSpec(output_schema=f"{__name__}:Answr")
    with pytest.raises(ConfigError) as info:
        Agent.from_spec("a", bad)
    (issue,) = info.value.issues
    assert issue.path == "agents.a.output_schema" and issue.hint == "did you mean 'Answer'?"
