"""The loader: no aliases, no Python or custom tags, no duplicate keys, capped sizes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator._yaml import YamlCaps, load_yaml_text
from orchestrator.config_errors import ConfigError
from orchestrator.spec import load_workflow

Issues = Callable[..., list[str]]


def _load_issues(path: Path, caps: YamlCaps | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_workflow(path, caps=caps)
    return [str(issue) for issue in info.value.issues]


def test_billion_laughs_is_refused_at_the_first_anchor(fixtures: Path) -> None:
    # Refused while composing, before any alias is expanded: nothing can blow up.
    path = fixtures / "billion_laughs.yaml"
    assert _load_issues(path) == [
        f"{path}:2: <document>: anchor '&a' is not allowed "
        "(anchors and aliases are not supported; repeat the value instead)"
    ]


def test_alias_is_refused(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        tasks: *undefined
        """
    ) == [
        "wf.yaml:2: <document>: alias '*undefined' is not allowed "
        "(anchors and aliases are not supported; repeat the value instead)"
    ]


def test_python_tag_is_refused(fixtures: Path) -> None:
    path = fixtures / "python_tag.yaml"
    assert _load_issues(path) == [
        f"{path}:4: tasks[0].prompt: tag '!!python/object/apply:os.system' is not allowed "
        "(only plain YAML values are accepted: no !!python or custom tags)"
    ]


def test_custom_tag_is_refused(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: !include other.yaml
        tasks: []
        """
    ) == [
        "wf.yaml:1: name: tag '!include' is not allowed "
        "(only plain YAML values are accepted: no !!python or custom tags)"
    ]


def test_merge_key_is_refused(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        tasks:
          - <<: {prompt: p}
            id: a
        """
    ) == ["wf.yaml:3: tasks[0]: merge keys ('<<') are not supported"]


def test_duplicate_key_is_an_error(issues_of: Issues) -> None:
    assert issues_of(
        """\
        name: x
        tasks:
          - id: a
            prompt: p
            prompt: q
        """
    ) == ["wf.yaml:5: tasks[0].prompt: duplicate key 'prompt' (first defined on line 4)"]


def test_invalid_yaml_names_the_line(issues_of: Issues) -> None:
    [issue] = issues_of(
        """\
        name: x
        tasks: [
        """
    )
    # The wording is the parser's (libyaml's or PyYAML's); the place is ours.
    assert issue.startswith("wf.yaml:3: <document>: invalid YAML: ")


def test_more_than_one_document(issues_of: Issues) -> None:
    assert issues_of("name: x\n---\nname: y\n") == [
        "wf.yaml:2: <document>: expected one YAML document, found more"
    ]


def test_top_level_must_be_a_mapping(issues_of: Issues) -> None:
    [issue] = issues_of("- a\n- b\n")
    assert issue.startswith("wf.yaml:1: <root>: input should be a valid dictionary")


def test_empty_document(issues_of: Issues) -> None:
    assert issues_of("# nothing\n") == ["wf.yaml: <document>: the document is empty"]


def test_file_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("name: x\n" + "# padding\n" * 200)
    assert _load_issues(path, YamlCaps(max_bytes=1000)) == [
        f"{path}: <document>: file is 2008 bytes, more than the cap of 1000"
    ]


def test_node_count_cap() -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml_text(
            "a: [" + ", ".join(["1"] * 50) + "]\n", file="w", caps=YamlCaps(max_nodes=20)
        )
    assert str(info.value) == "w:1: <document>: more than 20 YAML nodes"


def test_depth_cap() -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml_text("a: " + "[" * 10 + "]" * 10 + "\n", file="w", caps=YamlCaps(max_depth=5))
    assert str(info.value) == "w:1: <document>: nesting deeper than 5"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    [issue] = _load_issues(path)
    assert issue.startswith(f"{path}: <document>: cannot read file: ")


def test_lines_of_keys_items_and_block_text() -> None:
    document = load_yaml_text("a:\n  - x\n  - y: |\n      one\n      two\nwhen: 2024-01-01\n")
    assert document.data == {"a": ["x", {"y": "one\ntwo\n"}], "when": "2024-01-01"}
    assert document.source.line(("a", 1, "y")) == 3
    assert document.source.line(("a", 0)) == 2
    assert document.source.line(("a", 1, "missing", 7)) == 3
    assert document.source.text_line(("a", 1, "y"), "one\ntwo\n", 5) == 5


def test_pure_python_parser_gives_the_same_results(
    fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # libyaml is optional; without it PyYAML's own parser feeds the same builder.
    import yaml

    from orchestrator import _yaml

    fast = load_workflow(fixtures / "complete" / "workflow.yaml")
    monkeypatch.setattr(_yaml, "_PARSER", yaml.SafeLoader)
    slow = load_workflow(fixtures / "complete" / "workflow.yaml")
    assert slow == fast
    assert slow.source_map.lines == fast.source_map.lines
    assert _load_issues(fixtures / "billion_laughs.yaml")[0].endswith(
        "anchor '&a' is not allowed "
        "(anchors and aliases are not supported; repeat the value instead)"
    )
    assert "python/object/apply" in _load_issues(fixtures / "python_tag.yaml")[0]
