"""Context files: relative to the workflow, confined to its folder, sorted, size-capped."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator import spec as spec_module
from orchestrator.spec import load_workflow

Issues = Callable[..., list[str]]

_TEMPLATE = "name: x\ncontext:\n  files:\n    - {pattern}\ntasks:\n  - {{id: a, prompt: p}}\n"


def _workflow(folder: Path, pattern: str) -> str:
    return _TEMPLATE.format(pattern=pattern)


def test_dotdot_is_refused(issues_of: Issues, tmp_path: Path) -> None:
    assert issues_of(_workflow(tmp_path, "../secrets.txt"), base_dir=tmp_path) == [
        "wf.yaml:4: context.files[0]: path '../secrets.txt' leaves the workflow's folder "
        "(keep context files inside it)"
    ]


def test_absolute_path_is_refused(issues_of: Issues, tmp_path: Path) -> None:
    assert issues_of(_workflow(tmp_path, "/etc/passwd"), base_dir=tmp_path) == [
        "wf.yaml:4: context.files[0]: absolute path '/etc/passwd' is not allowed "
        "(use a path relative to the workflow)"
    ]


def test_symlink_out_of_the_folder_is_refused(issues_of: Issues, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    folder = tmp_path / "wf"
    folder.mkdir()
    os.symlink(outside, folder / "link.txt")
    assert issues_of(_workflow(folder, "link.txt"), base_dir=folder) == [
        "wf.yaml:4: context.files[0]: 'link.txt' resolves outside the workflow's folder "
        "(symlink) (copy the file into the folder)"
    ]


def test_symlinked_folder_matched_by_a_glob_is_refused(issues_of: Issues, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.md").write_text("secret")
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "ok.md").write_text("fine")
    os.symlink(tmp_path / "outside", folder / "escape")
    assert issues_of(_workflow(folder, "'*/*.md'"), base_dir=folder) == [
        "wf.yaml:4: context.files[0]: 'escape/secret.md' resolves outside the workflow's folder "
        "(symlink) (copy the file into the folder)"
    ]


def test_pattern_without_matches(issues_of: Issues, tmp_path: Path) -> None:
    assert issues_of(_workflow(tmp_path, "'docs/*.md'"), base_dir=tmp_path) == [
        f"wf.yaml:4: context.files[0]: 'docs/*.md' matches no files in {tmp_path.resolve()}"
    ]


def test_total_size_is_capped(
    issues_of: Issues, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spec_module, "CONTEXT_MAX_BYTES", 10)
    (tmp_path / "a.txt").write_text("0123456789abc")
    assert issues_of(_workflow(tmp_path, "a.txt"), base_dir=tmp_path) == [
        "wf.yaml:4: context.files[0]: context files exceed the cap of 10 bytes at 'a.txt' "
        "(use fewer or smaller files)"
    ]


def test_globs_are_sorted_and_deduplicated(tmp_path: Path) -> None:
    for name in ("b.md", "a.md", "c.txt"):
        (tmp_path / name).write_text(name)
    path = tmp_path / "wf.yaml"
    path.write_text(
        "name: x\ncontext:\n  text: Intro.\n  files: ['*.md', a.md, c.txt]\n"
        "tasks:\n  - {id: a, prompt: p}\n"
    )
    spec = load_workflow(path)
    assert [d.path for d in spec.context_documents] == ["a.md", "b.md", "c.txt"]
    assert spec.context_prefix() == (
        'Intro.\n\n<document path="a.md">\na.md\n</document>\n\n'
        '<document path="b.md">\nb.md\n</document>\n\n<document path="c.txt">\nc.txt\n</document>'
    )
