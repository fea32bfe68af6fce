"""Inputs and `--set key=value` overrides."""

from __future__ import annotations

import pytest

from orchestrator.config_errors import ConfigError
from orchestrator.spec import WorkflowSpec, parse_set, parse_workflow

_SPEC = """\
name: x
inputs:
  topic: rate limits
  words: {default: 600, type: integer}
  ratio: 0.5
  strict: false
  extra: {type: json, default: [1, 2]}
  audience:
    description: Who reads it
tasks:
  - {id: a, prompt: "{{ inputs.topic }}"}
"""


@pytest.fixture
def spec() -> WorkflowSpec:
    return parse_workflow(_SPEC, file="wf.yaml")


def _errors(spec: WorkflowSpec, *sets: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        spec.resolve_inputs(sets)
    return [str(issue) for issue in info.value.issues]


def test_defaults_and_overrides(spec: WorkflowSpec) -> None:
    values = spec.resolve_inputs(
        ["audience=ops", "words=800", "ratio=1.5", "strict=yes", 'extra={"a": 1}', "topic=a=b"]
    )
    assert values == {
        "topic": "a=b",
        "words": 800,
        "ratio": 1.5,
        "strict": True,
        "extra": {"a": 1},
        "audience": "ops",
    }


def test_last_set_wins(spec: WorkflowSpec) -> None:
    assert spec.resolve_inputs(["audience=a", "audience=b"])["audience"] == "b"


def test_unknown_input(spec: WorkflowSpec) -> None:
    assert _errors(spec, "audience=x", "topc=y") == [
        "--set topc=y: unknown input 'topc' (did you mean 'topic'?)"
    ]


def test_malformed_set() -> None:
    with pytest.raises(ConfigError) as info:
        parse_set(["topic", "=x"])
    assert [str(i) for i in info.value.issues] == [
        "--set topic: expected KEY=VALUE (e.g. --set topic='rate limits')",
        "--set =x: expected KEY=VALUE (e.g. --set topic='rate limits')",
    ]


def test_value_of_the_wrong_type(spec: WorkflowSpec) -> None:
    assert _errors(spec, "audience=x", "words=many", "strict=maybe") == [
        "--set words=many: input 'words': expected an integer, got 'many'",
        "--set strict=maybe: input 'strict': expected true or false, got 'maybe'",
    ]


def test_required_input_not_set(spec: WorkflowSpec) -> None:
    assert _errors(spec) == [
        "wf.yaml:8: inputs.audience: input 'audience' is required (pass --set audience=VALUE)"
    ]


def test_default_must_match_declared_type() -> None:
    with pytest.raises(ConfigError) as info:
        parse_workflow(
            "name: x\ninputs:\n  n: {default: ten, type: integer}\n"
            "tasks:\n  - {id: a, prompt: p}\n",
            file="wf.yaml",
        )
    assert str(info.value) == "wf.yaml:3: inputs.n: default 'ten' is not of type integer"


def test_bad_input_name() -> None:
    with pytest.raises(ConfigError) as info:
        parse_workflow("name: x\ninputs:\n  2nd: 1\ntasks:\n  - {id: a, prompt: p}\n", file="w")
    assert str(info.value) == (
        "w:3: inputs['2nd']: invalid name '2nd' (start with a letter and use only letters, "
        "digits, '_' and '-', at most 64 characters)"
    )
