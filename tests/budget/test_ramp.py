"""Ramp: the admission allowance after a pause or idle time (pure)."""

from __future__ import annotations

import math

import pytest

from orchestrator.budget import Ramp, RampConfig


def test_allowance_starts_at_fraction_and_grows_linearly_plus_refill() -> None:
    ramp = Ramp()
    ramp.begin(10.0, fraction=0.25, duration=10.0)
    # capacity 1000, rate 10/s: slope = 0.75 * 1000 / 10 + 10 = 85/s
    assert ramp.allowance(1, 1_000, 10.0, 10.0) == pytest.approx(250)
    assert ramp.allowance(1, 1_000, 10.0, 12.0) == pytest.approx(250 + 170)
    ramp.on_grant((1.0, 400.0, 0.0), 12.0)
    assert ramp.allowance(1, 1_000, 10.0, 12.0) == pytest.approx(20)
    assert math.isinf(ramp.allowance(1, 1_000, 10.0, 20.0))  # over


def test_time_until_accounts_for_a_future_start_and_the_end() -> None:
    ramp = Ramp()
    ramp.begin(5.0, fraction=0.1, duration=10.0)
    # slope = 0.9 * 100 / 10 + 1 = 10/s; at t=0 the ramp has not begun (flat at 10).
    assert ramp.time_until(0, 30.0, 100.0, 1.0, 0.0) == pytest.approx(5.0 + 2.0)
    assert ramp.time_until(0, 5.0, 100.0, 1.0, 0.0) == 0.0
    # Never later than the ramp's end.
    assert ramp.time_until(0, 10_000.0, 100.0, 1.0, 0.0) == pytest.approx(15.0)


def test_disabled_ramp_never_limits() -> None:
    ramp = Ramp()
    ramp.begin(0.0, fraction=1.0, duration=10.0)
    assert not ramp.active(0.0)
    ramp.begin(0.0, fraction=0.5, duration=0.0)
    assert not ramp.active(0.0)


def test_config_validation_and_off() -> None:
    with pytest.raises(ValueError, match="start_fraction"):
        RampConfig(start_fraction=0.0)
    with pytest.raises(ValueError, match="idle_after"):
        RampConfig(idle_after=0)
    off = RampConfig.off()
    assert off.on_start is False and off.idle_after is None and off.duration == 0
