"""Fixtures for the emulator tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import httpx2
import pytest

from orchestrator.emulator import Emulator


@pytest.fixture
def make_client() -> Callable[..., anthropic.AsyncAnthropic]:
    """`make_client(emulator, plain=False, **kw)`: an SDK client on the emulator in-process.

    `plain=True` uses `httpx2.ASGITransport` (buffered) instead of the emulator's own
    streaming transport.
    """

    def make(emulator: Emulator, *, plain: bool = False, **kwargs: Any) -> anthropic.AsyncAnthropic:
        if plain:
            kwargs["http_client"] = httpx2.AsyncClient(
                transport=httpx2.ASGITransport(app=emulator.app)
            )
        kwargs.setdefault("max_retries", 0)
        return emulator.anthropic(**kwargs)

    return make
