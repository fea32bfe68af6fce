"""Resync from rate-limit headers and reactions to 429s (pure core)."""

from __future__ import annotations

import pytest
from budget_helpers import account, prepare, snapshot

from agents.errors import ErrorKind, LLMError
from orchestrator.budget import BackoffConfig, CapacityLearner, RampConfig, rate_limited, resync
from orchestrator.limits import ModelLimits


def test_resync_pulls_down_allowing_for_token_rounding_never_up() -> None:
    acct = account()  # 60 / 30k / 6k
    assert acct.buckets is not None
    resync(acct, snapshot(requests=(60, 40), input_tokens=(30_000, 12_000)), 0.0)
    assert acct.buckets[0].level(0.0) == 40  # requests are exact
    assert acct.buckets[1].level(0.0) == 12_500  # tokens: up to 500 more than shown
    resync(acct, snapshot(input_tokens=(30_000, 20_000)), 0.0)
    assert acct.buckets[1].level(0.0) == 12_500  # a higher reading never raises the level
    assert acct.pulled[0] == 20 and acct.pulled[1] == 17_500


def test_resync_in_actual_mode_subtracts_output_still_to_come() -> None:
    acct = account(mode="actual")
    lease = prepare(acct, "a", max_tokens=2_000, output_tokens=1_500)
    assert acct.try_admit(lease, 0.0)
    assert acct.buckets is not None
    assert acct.buckets[2].level(0.0) == 4_500
    # The server has not seen our 1,500 yet: it shows 6,000 -> local may hold 6,500 - 1,500.
    resync(acct, snapshot(output_tokens=(6_000, 4_000)), 0.0)
    assert acct.buckets[2].level(0.0) == 3_000
    # Streamed progress shrinks what is still to come.
    acct.progress(lease, 1_000)
    assert acct.pending_output == 500
    acct.settle(lease, input_tokens=1_000, output_tokens=1_500, now=0.0)
    assert acct.pending_output == 0


def test_resync_in_legacy_mode_does_not_subtract_in_flight() -> None:
    acct = account(mode="legacy")
    lease = prepare(acct, "a", max_tokens=2_000, output_tokens=1_500)
    acct.try_admit(lease, 0.0)
    resync(acct, snapshot(output_tokens=(6_000, 4_000)), 0.0)
    assert acct.buckets is not None
    assert acct.buckets[2].level(0.0) == 4_000  # 4,000 local <= 4,500 allowed


def test_limits_are_learned_from_headers_when_unknown() -> None:
    acct = account(None)
    learned = resync(
        acct,
        snapshot(requests=(50, 49), input_tokens=(30_000, 25_000), output_tokens=(8_000, 8_000)),
        1.0,
    )
    assert learned
    assert acct.limits == ModelLimits(rpm=50, itpm=30_000, otpm=8_000)
    assert acct.buckets is not None
    assert acct.buckets[1].level(1.0) == 25_500


def test_lower_limit_headers_apply_after_two_equal_readings() -> None:
    acct = account(ModelLimits(rpm=100, itpm=60_000, otpm=12_000))
    reading = snapshot(
        requests=(50, 50), input_tokens=(30_000, 30_000), output_tokens=(8_000, 8_000)
    )
    resync(acct, reading, 0.0)
    assert acct.limits is not None and acct.limits.itpm == 60_000
    resync(acct, reading, 1.0)
    assert acct.limits == ModelLimits(rpm=50, itpm=30_000, otpm=8_000)
    assert acct.buckets is not None and acct.buckets[1].rate == 500
    # Higher header limits never raise configured ones (they may be a deliberate share).
    resync(
        acct, snapshot(requests=(500, 1), input_tokens=(90_000, 1), output_tokens=(9_000, 1)), 2.0
    )
    assert acct.limits.itpm == 30_000


def test_true_burst_capacity_learned_from_two_full_bucket_readings() -> None:
    acct = account(ModelLimits(rpm=60, itpm=60_000, otpm=6_000))
    assert acct.buckets is not None
    # Our bucket is full, the server shows 1,000 (a burst of limit/60).
    resync(acct, snapshot(input_tokens=(60_000, 1_000)), 0.0)
    assert acct.buckets[1].capacity == 60_000  # one odd reading is not trusted
    acct.buckets[1].refund(60_000, 100.0)  # full again
    resync(acct, snapshot(input_tokens=(60_000, 1_000)), 100.0)
    # "1,000" is anything from 500 to 1,500; the low end could halve the burst: the top.
    assert acct.buckets[1].capacity == 1_500
    # A later reading above the estimate heals it (never above the configured capacity).
    resync(acct, snapshot(input_tokens=(60_000, 9_000)), 200.0)
    assert acct.buckets[1].capacity == 8_500


def test_a_large_full_bucket_reading_teaches_the_low_end_of_its_rounding() -> None:
    # W8's true input burst of 7,500 reads "8,000": learning 8,500 let a drained bucket
    # admit a call the server could not take (a 429 every minute or so); 7,500 does not.
    acct = account(ModelLimits(rpm=60, itpm=450_000, otpm=90_000))
    assert acct.buckets is not None
    for at in (0.0, 100.0):
        acct.buckets[1].refund(450_000, at)  # our bucket full
        resync(acct, snapshot(input_tokens=(450_000, 8_000)), at)
    assert acct.buckets[1].capacity == 7_500


def test_capacity_learner_keeps_floor_and_window() -> None:
    learner = CapacityLearner(10_000.0, confirm_within=60.0)
    learner.lower_bound(3_000)
    assert learner.upper_bound(1_000, 0.0) is None
    assert learner.upper_bound(2_000, 1.0) == 3_000  # never below known-accepted amounts
    learner = CapacityLearner(10_000.0, confirm_within=60.0)
    learner.upper_bound(4_000, 0.0)
    assert learner.upper_bound(5_000, 100.0) is None  # too far apart: starts over
    assert learner.upper_bound(9_500, 101.0) is None  # not significant


def _error(kind: ErrorKind, **kwargs: object) -> LLMError:
    return LLMError(kind, "test", status_code=429, **kwargs)  # type: ignore[arg-type]


def _input_429(retry_after: float, remaining: tuple[int, int] | None = None) -> LLMError:
    """A 429 naming the input bucket, with that bucket's (limit, remaining) if given."""
    return _error(
        ErrorKind.RATE_LIMITED,
        retry_after=retry_after,
        limit="input_tokens",
        ratelimit=None if remaining is None else snapshot(input_tokens=remaining),
    )


def test_rate_limited_drains_named_bucket_pauses_and_ramps() -> None:
    acct = account(ramp=RampConfig(start_fraction=0.5, duration=4.0))
    lease = prepare(acct, "a", input_tokens=1_000)
    assert acct.try_admit(lease, 0.0)
    rate_limited(acct, _input_429(7.0, (30_000, 2_000)), 1.0, lease=lease)
    assert acct.rate_limited == 1
    assert acct.paused_until == 8.0
    assert acct.buckets is not None
    assert acct.buckets[1].level(1.0) == 1_500  # the server's 2,000 minus the rounding
    assert acct.ramp.start == 8.0 and acct.ramp.fraction == 0.5
    # A concurrent 429 extends nothing beyond its own retry-after: one pause.
    rate_limited(acct, _error(ErrorKind.RATE_LIMITED, retry_after=5.0), 2.0)
    assert acct.paused_until == 8.0
    rate_limited(acct, _error(ErrorKind.RATE_LIMITED, retry_after=10.0), 2.0)
    assert acct.paused_until == 12.0


def test_rate_limited_without_retry_after_pauses_for_the_refill() -> None:
    acct = account()
    lease = prepare(acct, "a", input_tokens=5_000)
    acct.try_admit(lease, 0.0)
    rate_limited(acct, _error(ErrorKind.RATE_LIMITED, limit="input_tokens"), 0.0, lease=lease)
    assert acct.paused_until == pytest.approx(10.0)  # 5,000 at 500/s from empty
    acct2 = account()
    rate_limited(
        acct2, _error(ErrorKind.RATE_LIMITED), 0.0, backoff=BackoffConfig(default_pause=3.0)
    )
    assert acct2.paused_until == 3.0


def test_rate_limited_without_a_reading_drains_only_what_the_pause_will_not_refill() -> None:
    acct = account()  # input: 30k capacity, 500/s
    assert acct.buckets is not None
    lease = prepare(acct, "a", input_tokens=5_000)
    assert acct.try_admit(lease, 0.0)
    rate_limited(acct, _input_429(4.0), 0.0, lease=lease)
    # 5,000 must fit when the 4 s pause ends: 2,000 refill then, so 3,000 now (not 0).
    assert acct.buckets[1].level(0.0) == pytest.approx(3_000)
    assert acct.paused_until == 4.0
    # With a reading, the reading decides (here: nothing left).
    acct2 = account()
    lease2 = prepare(acct2, "a", input_tokens=5_000)
    assert acct2.try_admit(lease2, 0.0)
    rate_limited(acct2, _input_429(4.0, (30_000, 0)), 0.0, lease=lease2)
    assert acct2.buckets is not None and acct2.buckets[1].level(0.0) == 0


def test_429_with_room_to_spare_teaches_a_smaller_burst() -> None:
    acct = account(ModelLimits(rpm=600, itpm=60_000, otpm=60_000))
    leases = [prepare(acct, f"t{i}", input_tokens=1_000) for i in range(5)]
    for lease in leases:
        assert acct.try_admit(lease, 0.0)
    # The server's true burst is ~2,000: the 3rd and 4th calls get 429.
    for lease in leases[2:4]:
        rate_limited(acct, _error(ErrorKind.RATE_LIMITED, limit="input_tokens"), 0.0, lease=lease)
    assert acct.buckets is not None
    assert acct.buckets[1].capacity == 3_000  # the smaller of the two bounds (3,000 and 4,000)


def test_input_over_estimate_is_not_refunded_after_a_reading_pulled_it_in() -> None:
    # The server charges a call its real input at admission; we charge our estimate and
    # refund the difference at settle. A reading taken while the call runs pulls our
    # bucket down to the server's level, which already excludes that difference:
    # refunding it on top would leave us above the server (a 429 on a small bucket).
    acct = account(ModelLimits(rpm=600, itpm=60_000, otpm=60_000))
    assert acct.buckets is not None
    before_reading = prepare(acct, "a", input_tokens=5_000)
    assert acct.try_admit(before_reading, 0.0)
    untouched = prepare(acct, "b", input_tokens=5_000)
    assert acct.try_admit(untouched, 0.0)
    acct.settle(untouched, input_tokens=4_000, output_tokens=100, now=0.0)
    assert acct.buckets[1].level(0.0) == pytest.approx(60_000 - 5_000 - 4_000)
    # The server holds 40,000: it charged 4,000 for `a` and 4,000 for `b`, and another
    # client took the rest. Our level drops to 40,500 (the reading plus half the rounding).
    resync(acct, snapshot(input_tokens=(60_000, 40_000)), 0.0)
    assert acct.buckets[1].level(0.0) == pytest.approx(40_500)
    acct.settle(before_reading, input_tokens=4_000, output_tokens=100, now=0.0)
    assert acct.buckets[1].level(0.0) == pytest.approx(40_500)  # no 1,000 on top
    # A call granted after the reading refunds as usual.
    after_reading = prepare(acct, "c", input_tokens=5_000)
    assert acct.try_admit(after_reading, 0.0)
    acct.settle(after_reading, input_tokens=4_000, output_tokens=100, now=0.0)
    assert acct.buckets[1].level(0.0) == pytest.approx(40_500 - 4_000)
