"""The budget package's public API is deliberate: sorted, importable, documented."""

from __future__ import annotations

import orchestrator.budget as budget


def test_all_is_sorted_importable_and_documented() -> None:
    assert budget.__all__ == sorted(budget.__all__)
    for name in budget.__all__:
        obj = getattr(budget, name)
        assert obj is not None and obj.__doc__
