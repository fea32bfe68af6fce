"""`orchestrator.inputs` on its own, and the names `orchestrator.spec` keeps re-exporting."""

from __future__ import annotations

import pytest

from orchestrator import inputs, spec
from orchestrator.config_errors import ConfigError, SourceMap
from orchestrator.inputs import InputSpec, resolve_inputs


def test_spec_re_exports_the_inputs_api() -> None:
    assert spec.InputSpec is inputs.InputSpec
    assert spec.parse_set is inputs.parse_set
    assert {"InputSpec", "parse_set"} <= set(spec.__all__)
    assert inputs.__all__ == sorted(inputs.__all__)


def test_resolve_inputs_without_a_workflow() -> None:
    declared = {
        "topic": InputSpec(default="limits"),
        "n": InputSpec(type="integer"),
        "extra": InputSpec(type="json"),
    }
    assert resolve_inputs(declared, ["n=3", 'extra={"a": [1]}']) == {
        "topic": "limits",
        "n": 3,
        "extra": {"a": [1]},
    }
    with pytest.raises(ConfigError) as info:
        resolve_inputs(declared, ["n=3"], source=SourceMap(file="wf.yaml"))
    assert [str(i) for i in info.value.issues] == [
        "wf.yaml: inputs.extra: input 'extra' is required (pass --set extra=VALUE)"
    ]


def test_resolve_inputs_can_leave_required_ones_out() -> None:
    declared = {"topic": InputSpec(), "words": InputSpec(default=600)}
    assert resolve_inputs(declared, require_all=False) == {"words": 600}
    with pytest.raises(ConfigError, match="expected an integer"):
        resolve_inputs(declared, ["words=many"], require_all=False)
