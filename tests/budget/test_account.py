"""ModelAccount: the pure core of one model class, driven with plain floats as time."""

from __future__ import annotations

import math

import pytest
from budget_helpers import LIMITS, account, prepare

from orchestrator.budget import LeaseState, LeaseStateError, RampConfig, RequestTooLarge
from orchestrator.limits import AccountingMode, BucketKind, ModelLimits
from policies import CriticalPathPolicy, FifoPolicy


def test_fast_path_admits_when_every_bucket_covers_it() -> None:
    acct = account()
    lease = prepare(acct, "a", input_tokens=10_000, max_tokens=1_000)
    assert acct.try_admit(lease, 0.0)
    assert lease.state is LeaseState.ACTIVE
    assert lease.reserved == (1.0, 10_000.0, 1_000.0)
    assert acct.buckets is not None
    assert [b.level(0.0) for b in acct.buckets] == [59, 20_000, 5_000]


def test_legacy_reserves_max_tokens_actual_reserves_expected_output() -> None:
    legacy = prepare(account(mode="legacy"), "l", max_tokens=2_000, output_tokens=300)
    actual = prepare(account(mode="actual"), "a", max_tokens=2_000, output_tokens=300)
    assert legacy.reserved_output == 2_000
    assert actual.reserved_output == 300
    assert actual.max_tokens == 2_000  # under the policy's cap: 0.5 * 6000


def test_policy_caps_max_tokens_never_below_expected() -> None:
    acct = account(policy=FifoPolicy(max_share=0.25))  # 0.25 * 6000 = 1500
    assert prepare(acct, "a", max_tokens=5_000, output_tokens=300).max_tokens == 1_500
    assert prepare(acct, "b", max_tokens=5_000, output_tokens=2_000).max_tokens == 2_000
    assert prepare(acct, "c", max_tokens=200, output_tokens=300).output_tokens == 200


def test_too_large_request_names_limit_request_and_capacity() -> None:
    acct = account(ModelLimits(rpm=50, itpm=30_000, otpm=8_000))
    with pytest.raises(RequestTooLarge) as info:
        prepare(acct, "summarise", input_tokens=45_000)
    assert str(info.value) == (
        "task 'summarise' needs 45,000 input tokens but the input-token bucket of "
        "claude-sonnet-5 (model class sonnet-5) holds at most 30,000 (ITPM 30,000); "
        "split the input or raise the limit"
    )
    assert info.value.bucket is BucketKind.INPUT
    with pytest.raises(RequestTooLarge, match="output-token bucket"):
        prepare(acct, "big", max_tokens=9_000, output_tokens=8_500)


def test_head_of_line_strict_order_and_exact_wake_time() -> None:
    acct = account()  # itpm 30k -> 500/s
    first = prepare(acct, "first", input_tokens=30_000)
    assert acct.try_admit(first, 0.0)
    big = prepare(acct, "big", input_tokens=20_000)
    small = prepare(acct, "small", input_tokens=1_000)
    assert not acct.try_admit(big, 0.0)
    acct.enqueue(big)
    # Even though `small` would fit sooner, it does not bypass the head.
    assert not acct.try_admit(small, 0.0)
    acct.enqueue(small)
    assert acct.wake_time(0.0) == pytest.approx(40.0)
    assert acct.admit(39.9) == []
    assert acct.admit(40.0) == [big]
    assert acct.wake_time(40.0) == pytest.approx(42.0)
    assert acct.admit(42.0) == [small]
    assert acct.wake_time(42.0) is None


def test_settle_refunds_unused_and_charges_overshoot_as_debt() -> None:
    acct = account()
    lease = prepare(acct, "a", input_tokens=10_000, max_tokens=1_000)
    acct.try_admit(lease, 0.0)
    acct.settle(lease, input_tokens=8_000, output_tokens=400, now=0.0)
    assert acct.buckets is not None
    assert acct.buckets[1].level(0.0) == 22_000
    assert acct.buckets[2].level(0.0) == 5_600
    assert acct.refunded[1:] == [2_000, 600]

    over = prepare(acct, "b", input_tokens=22_000, max_tokens=100, output_tokens=100)
    assert acct.try_admit(over, 0.0)
    acct.settle(over, input_tokens=23_000, output_tokens=100, now=0.0)
    assert acct.buckets[1].debt(0.0) == 1_000
    assert acct.debt_charged[1] == 1_000
    nxt = prepare(acct, "c", input_tokens=500)
    assert not acct.try_admit(nxt, 0.0)
    acct.enqueue(nxt)
    assert acct.wake_time(0.0) == pytest.approx(3.0)  # repay 1000 then 500 more at 500/s


def test_settle_twice_is_an_error_and_changes_nothing() -> None:
    acct = account()
    lease = prepare(acct, "a", input_tokens=10_000, max_tokens=1_000)
    acct.try_admit(lease, 0.0)
    acct.settle(lease, input_tokens=5_000, output_tokens=10, now=0.0)
    assert acct.buckets is not None
    before = [b.level(0.0) for b in acct.buckets]
    with pytest.raises(LeaseStateError, match="settled"):
        acct.settle(lease, input_tokens=0, output_tokens=0, now=0.0)
    with pytest.raises(LeaseStateError):
        acct.release(lease, 0.0)
    assert [b.level(0.0) for b in acct.buckets] == before


def test_release_refunds_nothing() -> None:
    acct = account()
    lease = prepare(acct, "a", input_tokens=10_000, max_tokens=1_000)
    acct.try_admit(lease, 0.0)
    acct.release(lease, 0.0)
    assert acct.buckets is not None
    assert acct.buckets[1].level(0.0) == 20_000
    assert acct.in_flight == 0 and lease.state is LeaseState.RELEASED


def test_withdraw_waiting_and_admitted_takes_nothing() -> None:
    acct = account()
    hog = prepare(acct, "hog", input_tokens=30_000)
    acct.try_admit(hog, 0.0)
    waiting = prepare(acct, "w", input_tokens=5_000)
    acct.enqueue(waiting)
    acct.withdraw(waiting, 1.0)
    assert waiting.state is LeaseState.REVOKED
    assert len(acct.queue) == 0 and acct.waiting_demand == [0.0, 0.0, 0.0]
    assert acct.wake_time(1.0) is None

    admitted = prepare(acct, "x", input_tokens=100)
    acct.enqueue(admitted)
    assert acct.admit(10.0) == [admitted]
    assert acct.buckets is not None
    level = acct.buckets[1].level(10.0)
    acct.withdraw(admitted, 10.0)
    assert acct.buckets[1].level(10.0) == level + 100
    assert acct.granted[1] == 30_000
    assert acct.in_flight == 1


def test_critical_path_policy_orders_the_queue() -> None:
    acct = account(policy=CriticalPathPolicy())
    hog = prepare(acct, "hog", input_tokens=30_000)
    acct.try_admit(hog, 0.0)
    short = prepare(acct, "short", tail=1.0)
    long = prepare(acct, "long", tail=100.0)
    for lease in (short, long):
        acct.enqueue(lease)
    assert acct.admit(100.0) == [long, short]


def test_pause_blocks_and_extends_not_multiplies() -> None:
    acct = account()
    acct.pause(5.0, fraction=1.0, duration=0.0)
    acct.pause(5.0, fraction=1.0, duration=0.0)
    acct.pause(3.0, fraction=1.0, duration=0.0)
    assert acct.paused_until == 5.0
    lease = prepare(acct, "a")
    assert not acct.try_admit(lease, 1.0)
    acct.enqueue(lease)
    assert acct.wake_time(1.0) == 5.0
    assert acct.admit(4.99) == []
    assert acct.admit(5.0) == [lease]


def test_ramp_on_start_spreads_the_first_burst() -> None:
    acct = account(ramp=RampConfig(start_fraction=0.25, duration=10.0))
    # 0.25 * 30k = 7.5k at once; then 0.75 * 30k / 10 + 500 = 2750/s.
    leases = [prepare(acct, f"t{i}", input_tokens=2_500) for i in range(6)]
    admitted = []
    for lease in leases:
        if acct.try_admit(lease, 0.0):
            admitted.append(lease)
        else:
            acct.enqueue(lease)
    assert len(admitted) == 3
    assert acct.wake_time(0.0) == pytest.approx(2_500 / 2_750)
    assert len(acct.admit(2.0)) == 2
    assert len(acct.admit(3.0)) == 1


@pytest.mark.parametrize(
    ("mode", "exact_free", "output_ramped"),
    [("legacy", True, False), ("actual", True, True), ("legacy", False, True)],
)
def test_start_ramp_leaves_exactly_charged_buckets_alone(
    mode: AccountingMode, exact_free: bool, output_ramped: bool
) -> None:
    # Output is what binds here: 6 calls of 1,500 max_tokens against 0.25 * 8,000 = 2,000
    # at once. In legacy mode the server reserves exactly max_tokens: no estimate to
    # guard, so by default the start ramp leaves the output bucket (and requests) alone.
    acct = account(
        ModelLimits(rpm=1_000, itpm=1_000_000, otpm=8_000),
        mode=mode,
        ramp=RampConfig(start_fraction=0.25, duration=10.0, start_exact_free=exact_free),
    )
    leases = [prepare(acct, f"t{i}", input_tokens=100, max_tokens=1_500) for i in range(5)]
    admitted = [lease for lease in leases if acct.try_admit(lease, 0.0)]
    assert len(admitted) == (1 if output_ramped else 5)


def test_idle_ramp_only_after_idle_with_nothing_in_flight() -> None:
    acct = account(
        ramp=RampConfig(start_fraction=0.1, duration=10.0, idle_after=60.0, on_start=False)
    )
    first = prepare(acct, "a", input_tokens=20_000)
    assert acct.try_admit(first, 0.0)  # no ramp at start
    acct.settle(first, input_tokens=20_000, output_tokens=500, now=1.0)
    later = prepare(acct, "b", input_tokens=20_000, now=100.0)
    assert not acct.try_admit(later, 100.0)  # idle 100 s: ramp allows 3k at once
    assert acct.ramp.active(100.0)


def test_unknown_limits_admit_one_probe_at_a_time() -> None:
    acct = account(None)
    probe = prepare(acct, "probe", input_tokens=10**9)  # no capacity known: no error yet
    assert acct.try_admit(probe, 0.0)
    assert probe.charged is False
    second = prepare(acct, "second")
    assert not acct.try_admit(second, 0.0)
    acct.enqueue(second)
    assert acct.wake_time(0.0) is None  # woken by events, not by time
    acct.settle(probe, input_tokens=100, output_tokens=100, now=1.0)
    assert acct.admit(1.0) == [second]


def test_learned_capacity_below_a_lease_admits_it_into_debt() -> None:
    acct = account()
    assert acct.buckets is not None
    acct.buckets[1].resize(5_000, 0.0)  # as if learned: the true burst is 5k
    lease = prepare(acct, "a", input_tokens=8_000)  # within the configured 30k
    assert acct.try_admit(lease, 0.0)
    assert acct.buckets[1].debt(0.0) == 3_000


def test_statistics_snapshot() -> None:
    acct = account()
    lease = prepare(acct, "a", input_tokens=10_000, max_tokens=1_000)
    acct.try_admit(lease, 0.0)
    waiting = prepare(acct, "w", input_tokens=25_000)
    acct.enqueue(waiting)
    acct.settle(lease, input_tokens=10_000, output_tokens=100, now=2.0)
    stats = acct.statistics(2.0)
    assert stats.waiting == 1 and stats.in_flight == 0 and stats.settled == 1
    inp = stats.input_tokens
    assert inp is not None
    assert inp.capacity == 30_000 and inp.limit == 30_000 and inp.rate == 500
    assert inp.available == pytest.approx(21_000)
    assert inp.waiting_demand == 25_000
    assert inp.used_60s == 10_000
    assert inp.utilisation_60s == pytest.approx(10_000 / 30_000)
    out = stats.output_tokens
    # 900 unused, but the bucket had refilled to 5,200 by then: only 800 fit under capacity.
    assert out is not None and out.refunded == 800
    assert stats.bucket(BucketKind.REQUESTS) is stats.requests
    assert stats.paused_until is None and not math.isnan(out.utilisation_10s)
    assert LIMITS.rpm == stats.requests.limit  # type: ignore[union-attr]


def test_learned_burst_caps_max_tokens_only_in_legacy_mode() -> None:
    for mode, expected_cap in (("legacy", 1_000), ("actual", 3_000)):
        acct = account(mode=mode)  # type: ignore[arg-type]
        assert acct.buckets is not None
        acct.buckets[2].resize(1_000, 0.0)  # the server's true output burst, learned
        lease = prepare(acct, "a", max_tokens=5_000, output_tokens=400)
        assert lease.max_tokens == expected_cap


def test_waiting_through_a_quiet_spell_is_not_idleness() -> None:
    acct = account(
        ramp=RampConfig(start_fraction=0.1, duration=10.0, idle_after=30.0, on_start=False)
    )
    assert acct.buckets is not None
    first = prepare(acct, "a", input_tokens=30_000)
    assert acct.try_admit(first, 0.0)
    acct.settle(first, input_tokens=30_000, output_tokens=500, now=1.0)
    acct.buckets[1].pull_down(0.0, 1.0)  # e.g. a resync: 60 s of refill needed
    big = prepare(acct, "big", input_tokens=30_000, now=1.0)
    acct.enqueue(big)
    at = acct.wake_time(1.0)
    assert at == pytest.approx(61.0)
    assert acct.admit(at + 1e-6) == [big]  # no idle ramp although nothing ran for 61 s
