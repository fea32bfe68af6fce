"""The package's public surface is deliberate."""

from __future__ import annotations

import orchestrator.emulator as emulator


def test_all_is_sorted_and_complete() -> None:
    names = emulator.__all__
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(emulator, name), name
        assert getattr(emulator, name).__doc__, f"{name} has no docstring"
