"""Fixtures for the emulator tests: emulators and SDK clients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import httpx2
import pytest
from emulator_helpers import config

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


@pytest.fixture
def emulator() -> Emulator:
    """A default emulator with instant answers."""
    return Emulator(config())


@pytest.fixture
def client(
    emulator: Emulator, make_client: Callable[..., anthropic.AsyncAnthropic]
) -> anthropic.AsyncAnthropic:
    """An SDK client on the default emulator."""
    return make_client(emulator)
