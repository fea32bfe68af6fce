"""SlidingSum: per-second bins for utilisation statistics."""

from __future__ import annotations

import pytest

from orchestrator.budget._window import SlidingSum


def test_sums_over_windows_and_forgets_old_bins() -> None:
    w = SlidingSum(span=60.0)
    w.add(0.5, 10)
    w.add(5.2, 20)
    w.add(59.9, 30)
    assert w.total(59.9, 60.0) == 60
    assert w.total(59.9, 10.0) == 30
    assert w.total(64.5, 60.0) == 50  # the first bin fell out
    assert w.total(65.5, 60.0) == 30
    w.add(200.0, 1)
    assert w.total(200.0, 60.0) == 1


def test_empty_and_invalid() -> None:
    assert SlidingSum().total(10.0, 10.0) == 0.0
    with pytest.raises(ValueError):
        SlidingSum(span=0)
