"""Fixtures for the workflow format and task graph tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.config_errors import ConfigError
from orchestrator.spec import parse_workflow

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    """The folder of example workflow files."""
    return FIXTURES


@pytest.fixture
def issues_of() -> Callable[..., list[str]]:
    """Parse YAML text (dedented) as `wf.yaml`; return the formatted issues it raises."""

    def run(text: str, *, base_dir: Path | None = None) -> list[str]:
        with pytest.raises(ConfigError) as info:
            parse_workflow(textwrap.dedent(text), file="wf.yaml", base_dir=base_dir)
        return [str(issue) for issue in info.value.issues]

    return run
