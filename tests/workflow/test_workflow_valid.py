"""A complete valid workflow, its JSON Schema, and lazily resolved output models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config_errors import ConfigError
from orchestrator.graph import TaskGraph
from orchestrator.limits import TIERS, ModelLimits
from orchestrator.spec import (
    POLICIES,
    TaskSpec,
    WorkflowSpec,
    load_workflow,
    parse_workflow,
    resolve_output_model,
)


@pytest.fixture
def complete(fixtures: Path) -> WorkflowSpec:
    return load_workflow(fixtures / "complete" / "workflow.yaml")


def test_complete_example_loads(complete: WorkflowSpec) -> None:
    spec = complete
    assert spec.name == "research-report"
    assert spec.policy == "critical_path"
    assert spec.on_failure == "continue"
    assert (spec.max_total_tokens, spec.max_cost_usd, spec.deadline) == (400_000, 5.0, 900)
    assert [t.id for t in spec.tasks] == [
        "history",
        "practice",
        "risks",
        "draft",
        "review",
        "follow_up",
    ]
    assert spec.tasks[-1].kind == "plan"
    assert spec.task("review").output_schema == "myproject.schemas:Review"
    assert spec.agents["researcher"].tools == ["mytools.search:web_search"]
    assert [d.path for d in spec.context_documents] == [
        "docs/background/buckets.md",
        "docs/background/headers.md",
        "docs/style-guide.md",
    ]
    assert spec.resolve_inputs(["words=800"]) == {
        "topic": "API rate limits",
        "words": 800,
        "audience": "engineers",
    }


def test_limits_resolve_per_class(complete: WorkflowSpec) -> None:
    limits = complete.limits
    assert limits is not None and limits.accounting == "actual"
    assert limits.for_class("haiku-4") == ModelLimits(
        rpm=1000, itpm=450_000, otpm=90_000, otpm_burst=45_000
    )
    assert limits.for_class("sonnet-4") == TIERS["tier2"]


def test_graph_of_the_complete_example(complete: WorkflowSpec) -> None:
    graph = TaskGraph.from_spec(complete)
    assert graph.order == ("history", "practice", "risks", "draft", "review", "follow_up")
    assert graph.nodes["history"].model == "claude-haiku-4-5"  # from the agent
    assert graph.nodes["review"].model == "claude-opus-4-1"  # the task's own
    assert graph.nodes["draft"].model == "claude-sonnet-4-5"  # the workflow default
    assert graph.nodes["history"].expected_output_tokens == 800
    assert graph.nodes["draft"].max_tokens == 4000
    # The draft's input includes the three researchers' expected output.
    assert graph.nodes["draft"].input_tokens > 3 * 800
    assert graph.critical_path().tasks[-3:] == ("draft", "review", "follow_up")


def test_task_lookup_suggests() -> None:
    spec = parse_workflow("name: x\ntasks:\n  - {id: research, prompt: p}\n")
    with pytest.raises(KeyError, match="did you mean 'research'"):
        spec.task("reserch")


_TYPES = {"object", "array", "string", "integer", "number", "boolean", "null"}


def _check_schema(node: Any, defs: dict[str, Any]) -> None:
    """A structural check of the JSON Schema keywords pydantic emits (no jsonschema needed)."""
    assert isinstance(node, dict)
    if "$ref" in node:
        assert node["$ref"].removeprefix("#/$defs/") in defs
    if "type" in node:
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        assert set(types) <= _TYPES
    if "enum" in node:
        assert isinstance(node["enum"], list) and node["enum"]
    if "required" in node:
        assert set(node["required"]) <= set(node["properties"])
    for key in ("properties", "$defs"):
        for child in node.get(key, {}).values():
            _check_schema(child, defs)
    for key in ("anyOf", "allOf", "oneOf"):
        for child in node.get(key, []):
            _check_schema(child, defs)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            _check_schema(node[key], defs)


def test_json_schema_is_valid_and_complete() -> None:
    schema = json.loads(json.dumps(WorkflowSpec.json_schema()))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    _check_schema(schema, schema["$defs"])
    top = schema["properties"]
    for field in (
        "name",
        "model",
        "limits",
        "policy",
        "context",
        "inputs",
        "agents",
        "tasks",
        "max_total_tokens",
        "max_cost_usd",
        "deadline",
        "on_failure",
    ):
        assert field in top
    assert schema["additionalProperties"] is False
    assert top["policy"]["enum"] == ["fifo", "fair", "priority", "critical_path"]
    task = schema["$defs"]["TaskSpec"]
    assert task["required"] == ["id", "prompt"]
    for field in ("depends_on", "agent", "expected_output_tokens", "output_schema", "kind"):
        assert field in task["properties"]


def test_json_schema_against_the_metaschema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = WorkflowSpec.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    example = {"name": "x", "inputs": {"topic": "t"}, "tasks": [{"id": "a", "prompt": "p"}]}
    jsonschema.Draft202012Validator(schema).validate(example)


def test_resolve_output_model() -> None:
    assert resolve_output_model("orchestrator.spec:TaskSpec") is TaskSpec


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (
            "no_such_module_xyz:Model",
            "output_schema: cannot import 'no_such_module_xyz': "
            "No module named 'no_such_module_xyz'",
        ),
        (
            "orchestrator.spec:TaskSpek",
            "output_schema: 'orchestrator.spec' has no attribute 'TaskSpek' "
            "(did you mean 'TaskSpec'?)",
        ),
        (
            "orchestrator.spec:load_workflow",
            "output_schema: 'orchestrator.spec:load_workflow' is not a pydantic model class",
        ),
        ("not a path", "output_schema: invalid import path 'not a path' (use 'pkg.mod:Model')"),
    ],
)
def test_resolve_output_model_errors(ref: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_output_model(ref)
    assert str(info.value) == message


def test_policy_names_match_the_policy_registry() -> None:
    registry = pytest.importorskip("policies.registry")
    assert set(POLICIES) == set(registry.SPLIT_POLICIES)
