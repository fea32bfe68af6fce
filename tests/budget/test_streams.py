"""Actual-mode output pacing: the running calls' deficit, their learned speeds, shared keys."""

from __future__ import annotations

import math

import pytest
from budget_helpers import account, prepare, snapshot
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.budget import LeaseStateError, resync
from orchestrator.budget._streams import StreamModel, deficit
from orchestrator.budget.sharing import HOLD_S, INPUT_TOLERANCE, SharedKey


def brute_force(left: list[float], rate: float, fast: float) -> float:
    """max over t of sum_i min(fast*t, u_i) - rate*t, at every breakpoint (and t = 0)."""
    points = [0.0] + [u / fast for u in left]
    return max(sum(min(fast * t, u) for u in left) - rate * t for t in points)


def test_deficit_by_hand() -> None:
    # Speeds unknown: no credit, the whole remaining output.
    assert deficit([1_000, 500], rate=100, fast=None) == 1_500
    # Two calls at 40 tok/s against a refill of 100/s: the refill keeps up with both.
    assert deficit([1_000, 500], rate=100, fast=40) == 0
    # Four at 40 tok/s (160 > 100): the lowest point is when the third-largest is done:
    # t* = 600/40 = 15 s, produced 600 + 600 + 600 + 200 = 2,000, refilled 1,500.
    assert deficit([1_000, 800, 600, 200], rate=100, fast=40) == pytest.approx(500)
    assert deficit([], rate=100, fast=40) == 0


@given(
    left=st.lists(st.floats(min_value=1, max_value=10_000), max_size=40),
    rate=st.floats(min_value=1, max_value=2_000),
    fast=st.floats(min_value=1, max_value=500),
)
def test_deficit_is_the_lowest_point_of_the_bucket(
    left: list[float], rate: float, fast: float
) -> None:
    got = deficit(left, rate=rate, fast=fast)
    assert got == pytest.approx(brute_force(left, rate, fast), rel=1e-9, abs=1e-6)
    assert 0 <= got <= sum(left) + 1e-6


def test_speeds_learn_cautiously_in_each_direction() -> None:
    model = StreamModel()
    model.learn(1_000, 10.0)  # 100 tok/s
    assert model.slow == 100 and model.fast == pytest.approx(125)
    model.learn(500, 10.0)  # a slower call: `slow` follows at once, `fast` decays slowly
    assert model.slow == 50
    assert 120 < model.fast < 125
    model.learn(2_000, 10.0)  # a faster one: `fast` follows at once, `slow` rises slowly
    assert model.fast == pytest.approx(250)
    assert 50 < model.slow < 60
    model.learn(0, 10.0)  # nothing produced: no evidence about speed
    assert model.fast == pytest.approx(250)


def test_running_calls_are_credited_with_their_time_on_the_wire() -> None:
    acct = account(mode="actual")  # 60 RPM / 30k ITPM / 6k OTPM
    assert acct.buckets is not None
    first = prepare(acct, "a", max_tokens=2_000, output_tokens=1_000)
    assert acct.try_admit(first, 0.0)
    acct.settle(first, input_tokens=100, output_tokens=1_000, now=10.0)  # 100 tok/s
    assert acct.streams.slow == 100
    running = prepare(acct, "b", max_tokens=2_000, output_tokens=2_000)
    assert acct.try_admit(running, 10.0)
    # 5 s later it has produced 500 (in the server's reading already); 1,500 is to come.
    # At up to 125 tok/s that takes 12 s, while the bucket refills 1,200: only 300 of it
    # is held back, not the 2,000 reserved.
    resync(acct, snapshot(output_tokens=(6_000, 3_000)), 15.0)
    assert acct.buckets[2].level(15.0) == pytest.approx(3_500 - 300)


def test_without_learned_speeds_everything_still_to_come_is_held_back() -> None:
    acct = account(mode="actual")
    assert acct.buckets is not None
    lease = prepare(acct, "a", max_tokens=2_000, output_tokens=1_500)
    assert acct.try_admit(lease, 0.0)
    resync(acct, snapshot(output_tokens=(6_000, 4_000)), 0.0)
    assert acct.buckets[2].level(0.0) == 4_500 - 1_500


def test_a_key_showing_other_traffic_is_marked_shared_for_a_while() -> None:
    key = SharedKey()
    assert not key.shared(0.0)
    key.observe(0, 1.0, 0.0)  # a request short: rounding
    key.observe(1, INPUT_TOLERANCE, 0.0)  # within the tolerance
    key.observe(2, 1e9, 0.0)  # output is not evidence (running calls hide in it)
    assert not key.shared(0.0)
    key.observe(0, 2.0, 5.0)  # two requests that were not ours
    assert key.shared(5.0) and key.shared(5.0 + HOLD_S - 1)
    assert not key.shared(5.0 + HOLD_S)
    key.observe(1, INPUT_TOLERANCE + 1, 100.0)
    assert key.shared(100.0)


def test_on_a_shared_key_running_calls_keep_their_reservations_out() -> None:
    acct = account(mode="actual")
    assert acct.buckets is not None
    first = prepare(acct, "a", max_tokens=2_000, output_tokens=1_000)
    assert acct.try_admit(first, 0.0)
    acct.settle(first, input_tokens=100, output_tokens=1_000, now=10.0)
    running = prepare(acct, "b", max_tokens=2_000, output_tokens=2_000)
    assert acct.try_admit(running, 10.0)
    # The server is 10 requests short of our level: someone else is on the key.
    resync(acct, snapshot(requests=(60, 40), output_tokens=(6_000, 3_000)), 15.0)
    assert acct.shared.shared(15.0)
    # The whole reservation (2,000) is held out, less the refill over half a typical
    # call (10 s admission-to-end so far: 0.5 * 10 * 100 = 500).
    assert acct.buckets[2].level(15.0) == pytest.approx(3_500 - 1_500)


def test_calls_producing_more_than_reserved_scale_later_reservations_up() -> None:
    acct = account(mode="actual")  # OTPM 6k: 100/s
    assert acct.buckets is not None
    for i in range(10):  # each declared 300, each really 900
        lease = prepare(acct, f"a{i}", max_tokens=2_000, output_tokens=300)
        assert acct.try_admit(lease, 20.0 * i)  # 20 s apart: the refill covers the overshoot
        acct.settle(lease, input_tokens=100, output_tokens=900, now=20.0 * i + 0.5)
    assert 2.0 < acct.output_scale < 3.0
    scale = acct.output_scale
    lease = prepare(acct, "b", max_tokens=2_000, output_tokens=300)
    assert acct.try_admit(lease, 300.0)
    assert lease.reserved[2] == pytest.approx(300 * scale) and lease.scale == scale
    # The ratio is learned against the unscaled reservation: a call that produced what was
    # declared pulls it back towards 1 (no compounding of the scale onto itself).
    acct.settle(lease, input_tokens=100, output_tokens=300, now=301.0)
    assert acct.output_ratio == pytest.approx(scale + 0.1 * (1.0 - scale))


def test_calls_producing_less_than_reserved_never_scale_below_one() -> None:
    acct = account(mode="actual")
    for i in range(20):
        lease = prepare(acct, f"a{i}", max_tokens=2_000, output_tokens=1_000)
        assert acct.try_admit(lease, float(i))
        acct.settle(lease, input_tokens=100, output_tokens=100, now=float(i) + 0.5)
    assert acct.output_ratio < 0.5 and acct.output_scale == 1.0


def test_legacy_mode_does_not_scale() -> None:
    acct = account(mode="legacy")
    lease = prepare(acct, "a", max_tokens=2_000, output_tokens=300)
    assert acct.try_admit(lease, 0.0)
    acct.settle(lease, input_tokens=100, output_tokens=2_000, now=1.0)
    assert acct.output_scale == 1.0


def test_a_lease_settled_twice_teaches_the_speeds_and_the_scale_nothing() -> None:
    acct = account(mode="actual")
    lease = prepare(acct, "a", max_tokens=2_000, output_tokens=1_000)
    assert acct.try_admit(lease, 0.0)
    acct.settle(lease, input_tokens=100, output_tokens=1_100, now=10.0)
    before = (acct.streams.slow, acct.streams.fast, acct.output_ratio, acct.output_scale)
    with pytest.raises(LeaseStateError):
        acct.settle(lease, input_tokens=100, output_tokens=0, now=11.0)
    assert (acct.streams.slow, acct.streams.fast, acct.output_ratio, acct.output_scale) == before


def test_a_call_of_no_measurable_duration_teaches_no_speed() -> None:
    # 100 tokens in 1e-320 s is an infinite speed; learned, a later finite one would turn
    # `fast` into inf - inf = NaN (found by the stateful test).
    model = StreamModel()
    model.learn(100, 1e-320)
    assert model.fast is None and model.slow is None
    model.learn(1_000, 10.0)
    model.learn(100, 1e-320)
    model.learn(500, 10.0)
    assert model.fast is not None and math.isfinite(model.fast) and 120 < model.fast <= 125
