"""Sandboxed templates: parsing, rendering, static checks, and spec-level reference errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from orchestrator.template import Template, TemplateError, TemplateScope, check_template

Issues = Callable[..., list[str]]

_VALUES = {
    "inputs": {"topic": "rate limits", "n": 3, "tags": ["a", "b"]},
    "tasks": {
        "research": {"output": "  text  ", "data": {"facts": ["f1", "f2"], "score": 0.5}},
    },
}


def _render(source: str) -> str:
    return Template.parse(source).render(_VALUES)


def test_renders_inputs_and_outputs() -> None:
    assert _render("About {{ inputs.topic }} ({{inputs.n}}): {{ tasks.research.output }}") == (
        "About rate limits (3):   text  "
    )


def test_structured_data_lookups_and_filters() -> None:
    assert _render("{{ tasks.research.data.facts.1 }}") == "f2"
    assert _render("{{ tasks.research.data.facts | json }}") == '[\n  "f1",\n  "f2"\n]'
    assert _render("{{ tasks.research.output | trim }}|") == "text|"
    assert _render("{{ inputs.topic | json }}") == '"rate limits"'
    assert _render("{{ tasks.research.data.score }}") == "0.5"


def test_escaped_braces_and_plain_json_survive() -> None:
    assert _render('\\{{ not a tag }} {"a": {"b": 1}}') == '{{ not a tag }} {"a": {"b": 1}}'


def test_task_refs() -> None:
    template = Template.parse("{{ tasks.a.output }} {{ tasks.b.data.x }} {{ inputs.c }}")
    assert template.task_refs == frozenset({"a", "b"})


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "{{ inputs.__class__ }}",
            "{{ inputs.__class__ }}: names starting with '_' are not allowed",
        ),
        ("{{ inputs.topic.__len__ }}", "names starting with '_' are not allowed"),
        ("{{ inputs['topic'] }}", "expected a dotted name such as inputs.topic"),
        ("{{ inputs.topic() }}", "expected a dotted name"),
        ("{{ inputs.topic | upper }}", "unknown filter 'upper'"),
        ("{{ }}", "{{ }}: empty expression"),
        ("text {{ inputs.topic", "unclosed '{{'"),
    ],
)
def test_unsafe_or_malformed_templates_do_not_parse(source: str, message: str) -> None:
    with pytest.raises(TemplateError, match=None) as info:
        Template.parse(source)
    assert message in info.value.message


def test_render_never_touches_python_objects() -> None:
    class Secret:
        token = "s3cret"

    with pytest.raises(TemplateError, match="cannot look up 'token' in a Secret"):
        Template.parse("{{ inputs.x.token }}").render({"inputs": {"x": Secret()}})
    with pytest.raises(TemplateError, match="value is not plain data"):
        Template.parse("{{ inputs.x }}").render({"inputs": {"x": Secret()}})
    with pytest.raises(TemplateError, match="cannot look up 'upper' in a str"):
        Template.parse("{{ inputs.x.upper }}").render({"inputs": {"x": "abc"}})


def test_render_errors_name_the_reference() -> None:
    with pytest.raises(TemplateError, match=r"'tasks.missing' has no value"):
        _render("{{ tasks.missing.output }}")
    with pytest.raises(TemplateError, match=r"index 'inputs.tags.5' is out of range"):
        _render("{{ inputs.tags.5 }}")


def test_static_check_scope() -> None:
    scope = TemplateScope(
        inputs=["topic"], tasks=["a", "b"], upstream=["a"], structured={"a": ["facts"]}
    )
    template = Template.parse(
        "{{ inputs.topic }} {{ tasks.a.data.facts }} {{ tasks.a.data.fcts }} {{ tasks.b.output }}"
        " {{ tasks.a.outptu }} {{ tasks.a.output.x }} {{ input.topic }} {{ inputs }}"
    )
    assert [(p.message, p.hint) for p in check_template(template, scope)] == [
        (
            "{{ tasks.a.data.fcts }}: task 'a' has no output field 'fcts'",
            "did you mean 'facts'?",
        ),
        (
            "{{ tasks.b.output }}: task 'b' is not upstream of this task",
            "add 'b' to depends_on",
        ),
        (
            "{{ tasks.a.outptu }}: expected tasks.a.output or tasks.a.data, got 'outptu'",
            "did you mean 'tasks.a.output'?",
        ),
        (
            "{{ tasks.a.output.x }}: tasks.a.output is text and has no fields",
            "use tasks.a.data.FIELD with an output_schema",
        ),
        ("{{ input.topic }}: unknown name 'input'", "did you mean 'inputs'?"),
        ("{{ inputs }}: name what to use, e.g. inputs.NAME", None),
    ]


# Spec level: the same checks, located in the YAML file.


def test_unknown_input_reference(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        inputs:
          topic: t
        tasks:
          - id: a
            prompt: "About {{ inputs.topc }}"
        """
    ) == [
        "wf.yaml:6: tasks[0].prompt: {{ inputs.topc }}: unknown input 'topc' "
        "(did you mean 'topic'?)"
    ]


def test_unknown_task_reference_in_a_block_names_its_line(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        tasks:
          - id: research
            prompt: p
          - id: write
            depends_on: [research]
            prompt: |
              Write a report.

              Use: {{ tasks.reserch.output }}
        """
    ) == [
        "wf.yaml:10: tasks[1].prompt: {{ tasks.reserch.output }}: unknown task 'reserch' "
        "(did you mean 'research'?)"
    ]


def test_reference_to_a_task_that_is_not_upstream(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        tasks:
          - id: research
            prompt: p
          - id: outline
            prompt: p
          - id: write
            depends_on: [outline]
            prompt: "{{ tasks.research.output }}"
        """
    ) == [
        "wf.yaml:9: tasks[2].prompt: {{ tasks.research.output }}: task 'research' is not "
        "upstream of this task (add 'research' to tasks[2].depends_on)"
    ]


def test_transitive_upstream_reference_is_fine(issues_of: Issues) -> None:
    from orchestrator.spec import parse_workflow

    spec = parse_workflow(
        "name: x\ntasks:\n  - {id: a, prompt: p}\n  - {id: b, prompt: p, depends_on: [a]}\n"
        "  - {id: c, prompt: '{{ tasks.a.output }}', depends_on: [b]}\n"
    )
    assert [t.id for t in spec.tasks] == ["a", "b", "c"]


def test_data_of_a_task_without_schema(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        tasks:
          - id: a
            prompt: p
          - id: b
            depends_on: [a]
            prompt: "{{ tasks.a.data.facts }}"
        """
    ) == [
        "wf.yaml:7: tasks[1].prompt: {{ tasks.a.data.facts }}: task 'a' has no output_schema "
        "(use tasks.a.output)"
    ]


def test_dunder_access_is_refused_at_validation(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        inputs: {topic: t}
        tasks:
          - id: a
            prompt: "{{ inputs.__class__ }}"
          - id: b
            depends_on: [a]
            prompt: "{{ tasks.a.output.__dict__ }}"
        """
    ) == [
        "wf.yaml:5: tasks[0].prompt: {{ inputs.__class__ }}: names starting with '_' are not "
        "allowed in templates",
        "wf.yaml:8: tasks[1].prompt: {{ tasks.a.output.__dict__ }}: names starting with '_' are "
        "not allowed in templates",
    ]


def test_agent_system_may_only_use_inputs(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        agents:
          w:
            system: "{{ tasks.a.output }}"
        tasks:
          - {id: a, prompt: p, agent: w}
        """
    ) == [
        "wf.yaml:4: agents.w.system: {{ tasks.a.output }}: task results are not available here "
        "(only inputs.NAME is)"
    ]
