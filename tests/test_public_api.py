"""Each package's public API is deliberate: a sorted `__all__`, importable, documented."""

from __future__ import annotations

import importlib
import inspect

import pytest

PACKAGES = [
    "agents",
    "orchestrator",
    "orchestrator.budget",
    "orchestrator.emulator",
    "policies",
]


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_sorted_and_unique(package: str) -> None:
    names = list(importlib.import_module(package).__all__)
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions; each alphabetical.
    kind = {True: 0, False: 1}
    expected = sorted(names, key=lambda n: (kind[n.isupper()] if n[0].isupper() else 2, n))
    assert names == expected
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_resolves_and_has_a_docstring(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__doc__
    undocumented = []
    for name in module.__all__:
        value = getattr(module, name)
        if (inspect.isclass(value) or inspect.isfunction(value)) and not inspect.getdoc(value):
            undocumented.append(name)
    assert not undocumented, f"{package}: no docstring on {undocumented}"
