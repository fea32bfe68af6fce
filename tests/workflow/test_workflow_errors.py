"""One test per configuration mistake: file, line, YAML path, message and suggestion."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from orchestrator.config_errors import ConfigError
from orchestrator.spec import WorkflowSpec

Issues = Callable[..., list[str]]


def test_cycle_names_the_cycle(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        tasks:
          - id: a
            prompt: p
            depends_on: [c]
          - id: b
            prompt: p
            depends_on: [a]
          - id: c
            prompt: p
            depends_on: [b]
        """
    ) == [
        "wf.yaml:5: tasks[0].depends_on[0]: dependency cycle: a -> b -> c -> a "
        "('a -> b' means b depends on a; remove one of these depends_on entries)"
    ]


def test_self_dependency(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        tasks:
          - id: a
            prompt: p
            depends_on:
              - a
        """
    ) == ["wf.yaml:6: tasks[0].depends_on[0]: task 'a' depends on itself"]


def test_missing_dependency_suggests_a_task(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        tasks:
          - id: research
            prompt: p
          - id: write
            prompt: p
            depends_on: [reserch]
        """
    ) == ["wf.yaml:7: tasks[1].depends_on[0]: unknown task 'reserch' (did you mean 'research'?)"]


def test_duplicate_task_id(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        tasks:
          - id: a
            prompt: p
          - id: a
            prompt: q
        """
    ) == ["wf.yaml:5: tasks[1].id: duplicate task id 'a' (first defined at tasks[0])"]


def test_unknown_field_with_suggestion(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        tasks:
          - id: a
            prompt: p
            depend_on: [b]
        """
    ) == ["wf.yaml:5: tasks[0].depend_on: unknown field 'depend_on' (did you mean 'depends_on'?)"]


def test_unknown_top_level_field_with_suggestion(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        polcy: fifo
        tasks:
          - {id: a, prompt: p}
        """
    ) == ["wf.yaml:2: polcy: unknown field 'polcy' (did you mean 'policy'?)"]


def test_unknown_field_without_close_match_lists_allowed(issues_of: Issues) -> None:
    [issue] = issues_of(
        """\
        name: x
        limits: {zzz: 1}
        tasks:
          - {id: a, prompt: p}
        """
    )
    assert (
        issue == "wf.yaml:2: limits.zzz: unknown field 'zzz' (allowed: accounting, classes, tier)"
    )


def test_wrong_type(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        tasks:
          - id: a
            prompt: p
            max_tokens: lots
        """
    ) == [
        "wf.yaml:5: tasks[0].max_tokens: input should be a valid integer, "
        "unable to parse string as an integer, got 'lots'"
    ]


def test_missing_required_field(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        tasks:
          - id: a
        """
    ) == ["wf.yaml:3: tasks[0].prompt: missing required field 'prompt'"]


def test_all_field_errors_reported_together(issues_of: Issues) -> None:
    found = issues_of(
        """\
        name: x
        policy: fiffo
        tasks:
          - id: a
            prompt: p
            retries: -1
          - id: b
            prompt: p
            kind: plna
        """
    )
    assert [issue.split(": ")[1] for issue in found] == [
        "policy",
        "tasks[0].retries",
        "tasks[1].kind",
    ]


def test_unknown_model_lists_families(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        tasks:
          - id: a
            prompt: p
            model: claude-sonet-4-5
        """
    ) == [
        "wf.yaml:5: tasks[0].model: unknown model 'claude-sonet-4-5' (did you mean "
        "'claude-sonnet-4-5'? known model families: claude-opus-5, claude-opus-4, "
        "claude-sonnet-5, claude-sonnet-4, claude-haiku-5, claude-haiku-4)"
    ]


def test_unknown_policy(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        policy: critcal_path
        tasks:
          - {id: a, prompt: p}
        """
    ) == ["wf.yaml:2: policy: unknown policy 'critcal_path' (did you mean 'critical_path'?)"]


def test_unknown_policy_far_off_lists_choices(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        policy: zzz
        tasks:
          - {id: a, prompt: p}
        """
    ) == [
        "wf.yaml:2: policy: unknown policy 'zzz' "
        "(choose one of: fifo, fair, priority, critical_path)"
    ]


def test_unknown_agent(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        agents:
          writer: {system: You write.}
        tasks:
          - id: a
            prompt: p
            agent: writr
        """
    ) == ["wf.yaml:7: tasks[0].agent: unknown agent 'writr' (did you mean 'writer'?)"]


def test_unknown_tier_and_model_class(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        limits:
          tier: teir2
          classes:
            sonet-4: {rpm: 1, itpm: 1, otpm: 1}
        tasks:
          - {id: a, prompt: p}
        """
    ) == [
        "wf.yaml:3: limits.tier: unknown tier 'teir2' (did you mean 'tier2'?)",
        "wf.yaml:4: limits.classes: unknown model class 'sonet-4' (did you mean 'sonnet-4'?)",
    ]


def test_bad_tool_import_path(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        agents:
          a:
            tools: ["mytools.search.web_search"]
        tasks:
          - {id: a, prompt: p}
        """
    ) == [
        "wf.yaml:4: agents.a.tools[0]: invalid import path 'mytools.search.web_search' "
        "(write it as 'package.module:name')"
    ]


def test_plan_task_cannot_have_output_schema(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        tasks:
          - id: a
            kind: plan
            prompt: p
            output_schema: "pkg.mod:Model"
        """
    ) == ["wf.yaml:3: tasks[0]: a plan task cannot have an output_schema (its output is the plan)"]


def test_expected_output_above_max_tokens(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        tasks:
          - id: a
            prompt: p
            max_tokens: 100
            expected_output_tokens: 200
        """
    ) == [
        "wf.yaml:6: tasks[0].expected_output_tokens: expected_output_tokens 200 is more than "
        "max_tokens 100 (raise max_tokens or lower the estimate)"
    ]


def test_bad_inline_output_schema(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        tasks:
          - id: a
            prompt: p
            output_schema: {type: array}
        """
    ) == [
        "wf.yaml:5: tasks[0].output_schema: an inline output_schema must have type: object "
        "(add 'type: object')"
    ]


def test_cross_checks_report_every_issue(issues_of: Issues) -> None:
    found = issues_of(
        """\
        name: x
        tasks:
          - id: a
            prompt: "{{ inputs.nope }}"
            agent: ghost
          - id: b
            prompt: p
            depends_on: [zz]
        """
    )
    assert [issue.split(": ")[1] for issue in found] == [
        "tasks[0].prompt",
        "tasks[0].agent",
        "tasks[1].depends_on[0]",
    ]


def test_python_api_errors_have_no_file() -> None:
    with pytest.raises(ConfigError) as info:
        WorkflowSpec.from_data({"name": "x", "tasks": [{"id": "a", "prompt": "p", "bad": 1}]})
    assert str(info.value) == (
        "tasks[0].bad: unknown field 'bad' (allowed: agent, depends_on, expected_output_tokens, "
        "id, kind, max_tokens, model, output_schema, plan, priority, prompt, retries, timeout)"
    )
