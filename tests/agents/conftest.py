"""Fixtures for the LLM client tests."""

from __future__ import annotations

import pytest
from anthropic_fakes import FakeAPI


@pytest.fixture
def api() -> FakeAPI:
    """A fresh fake Messages API."""
    return FakeAPI()


@pytest.fixture
def no_anthropic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ANTHROPIC_* variables that would configure a client."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
