"""TokenBucket: pure arithmetic with plain floats as time."""

from __future__ import annotations

import math

import pytest

from orchestrator.budget import TokenBucket
from orchestrator.clock import ManualClock


def test_starts_full_and_refills_continuously_up_to_capacity() -> None:
    b = TokenBucket(capacity=600, rate=10.0, now=0.0)
    assert b.available(0.0) == 600
    b.take(600, 0.0)
    assert b.available(0.0) == 0
    assert b.available(6.0) == pytest.approx(60.0)
    assert b.available(1_000.0) == 600  # never above capacity


def test_time_until_is_exact_and_inf_beyond_capacity() -> None:
    b = TokenBucket(capacity=30_000, rate=500.0, now=0.0)
    b.take(20_000, 0.0)
    assert b.time_until(10_000, 0.0) == 0.0
    assert b.time_until(15_000, 0.0) == pytest.approx(10.0)
    assert not b.fits(15_000, 9.99)
    assert b.fits(15_000, 10.0)
    assert math.isinf(b.time_until(30_001, 10.0))


def test_debt_blocks_until_repaid() -> None:
    b = TokenBucket(capacity=1_000, rate=100.0, now=0.0)
    b.take(1_000, 0.0)
    b.take(500, 0.0)  # a settlement overshoot: debt
    assert b.debt(0.0) == 500
    assert b.available(0.0) == 0
    # 5 s to repay the debt, 1 s more for 100 tokens.
    assert b.time_until(100, 0.0) == pytest.approx(6.0)
    assert not b.fits(1, 5.0)
    assert b.fits(100, 6.0)


def test_refund_is_capped_at_capacity_and_reports_credit() -> None:
    b = TokenBucket(capacity=1_000, rate=10.0, now=0.0)
    b.take(300, 0.0)
    assert b.refund(200, 0.0) == 200
    assert b.refund(500, 0.0) == 100  # only 100 room left
    assert b.level(0.0) == 1_000


def test_pull_down_never_raises_level() -> None:
    b = TokenBucket(capacity=1_000, rate=10.0, now=0.0)
    assert b.pull_down(400, 0.0) == 600
    assert b.level(0.0) == 400
    assert b.pull_down(900, 0.0) == 0.0
    assert b.level(0.0) == 400


def test_resize_clamps_level_and_changes_rate() -> None:
    b = TokenBucket(capacity=1_000, rate=10.0, now=0.0)
    b.resize(100, 0.0, rate=1.0)
    assert (b.capacity, b.rate, b.level(0.0)) == (100, 1.0, 100)
    b.take(100, 0.0)
    assert b.time_until(50, 0.0) == pytest.approx(50.0)


def test_clock_stepping_back_does_not_drain() -> None:
    b = TokenBucket(capacity=100, rate=1.0, now=10.0)
    b.take(50, 10.0)
    assert b.level(5.0) == 50
    assert b.level(20.0) == 60


def test_works_with_manual_clock() -> None:
    clock = ManualClock()
    b = TokenBucket(capacity=60, rate=1.0, now=clock.now())
    b.take(60, clock.now())
    clock.advance(30)
    assert b.available(clock.now()) == pytest.approx(30)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"capacity": 0, "rate": 1.0}, "capacity"), ({"capacity": 1, "rate": 0.0}, "rate")],
)
def test_rejects_nonsense(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TokenBucket(**kwargs)
    b = TokenBucket(capacity=1, rate=1)
    with pytest.raises(ValueError):
        b.take(-1, 0.0)
    with pytest.raises(ValueError):
        b.refund(-1, 0.0)
