"""Learning a burst smaller than configured from readings that stop refilling (W8's case).

The local bucket is pulled down to every reading, so with a configured capacity far above
the server's true burst it is never full and "a reading while our bucket is full" never
happens. The evidence used instead: between two readings with no grant of ours, the
server's bucket only refills; a reading below what the refill must have given shows the
server's bucket full at its capacity.
"""

from __future__ import annotations

from budget_helpers import account, prepare, snapshot

from orchestrator.budget import CapacityLearner, ModelAccount, resync
from orchestrator.limits import AccountingMode, ModelLimits

#: 60 RPM, 30k ITPM, 6k OTPM: the output bucket refills 100 tokens per second.
OTPM = 6_000


def _admitted_once(mode: AccountingMode = "legacy") -> ModelAccount:
    acct = account(mode=mode)
    lease = prepare(acct, "a", max_tokens=500, output_tokens=400)
    assert acct.try_admit(lease, 0.0)
    acct.settle(lease, input_tokens=1_000, output_tokens=400, now=0.5)
    return acct


def test_readings_that_stop_refilling_teach_the_output_burst() -> None:
    acct = _admitted_once()
    assert acct.buckets is not None
    # The server shows ~1,000 left at t=1, and still ~1,000 at t=20 and t=40 although 19 s
    # of refill (1,900 tokens) passed with nothing granted: its burst is about 1,000.
    acct.buckets[2].refund(OTPM, 1.0)
    for at in (1.0, 20.0, 40.0):
        resync(acct, snapshot(output_tokens=(OTPM, 1_000)), at)
    assert acct.buckets[2].capacity == 1_500  # at most the reading plus the rounding


def test_grants_between_readings_widen_the_bound_by_what_they_drew() -> None:
    acct = _admitted_once()  # granted 500 at t=0
    assert acct.buckets is not None
    acct.buckets[2].take(3_000, 0.5)  # far from full: the first reading proves nothing
    resync(acct, snapshot(output_tokens=(OTPM, 1_000)), 1.0)
    for at in (30.0, 59.0):
        lease = prepare(acct, f"b{at}", max_tokens=500, output_tokens=400, now=at - 1.0)
        assert acct.try_admit(lease, at - 1.0)
        # The server's bucket was full at some point since the last reading (~2,900 of
        # refill went missing), then grants drew on it. Grants count from the reading
        # before the last one (a request may still have been on its way then): 1,000 at
        # t=30 (both grants so far) and at t=59 (the grants at t=29 and t=58).
        resync(acct, snapshot(output_tokens=(OTPM, 1_000)), at)
    assert acct.buckets[2].capacity == 2_500


def test_a_reading_explained_by_our_grants_is_no_evidence() -> None:
    acct = _admitted_once()
    assert acct.buckets is not None
    resync(acct, snapshot(output_tokens=(OTPM, 1_000)), 1.0)
    for at in (3.0, 5.0, 7.0):
        lease = prepare(acct, f"b{at}", max_tokens=500, output_tokens=400, now=at - 1.0)
        assert acct.try_admit(lease, at - 1.0)
        # 2 s of refill (200) minus 500 granted: the reading is what an uncapped bucket
        # of any size would show, so nothing is learned.
        resync(acct, snapshot(output_tokens=(OTPM, 1_000)), at)
    assert acct.buckets[2].capacity == OTPM


def test_actual_mode_output_is_not_learned_while_streams_run() -> None:
    acct = account(mode="actual")
    first = prepare(acct, "a", max_tokens=500, output_tokens=400)
    assert acct.try_admit(first, 0.0)
    running = prepare(acct, "b", max_tokens=500, output_tokens=400)
    assert acct.try_admit(running, 0.0)
    acct.settle(first, input_tokens=1_000, output_tokens=400, now=0.5)
    assert acct.buckets is not None
    # `running` is charged output as it streams: the server's bucket may not refill.
    for at in (1.0, 20.0, 40.0):
        resync(acct, snapshot(output_tokens=(OTPM, 1_000)), at)
    assert acct.buckets[2].capacity == OTPM


def test_a_wrongly_learned_burst_heals_on_a_higher_reading() -> None:
    acct = _admitted_once()
    assert acct.buckets is not None
    for at in (1.0, 20.0, 40.0):
        resync(acct, snapshot(output_tokens=(OTPM, 1_000)), at)
    assert acct.buckets[2].capacity == 1_500
    # Another client on the key had been draining it: now the server shows more.
    resync(acct, snapshot(output_tokens=(OTPM, 4_000)), 60.0)
    assert acct.buckets[2].capacity == 3_500


def test_requests_bucket_learns_exactly() -> None:
    acct = account(ModelLimits(rpm=600, itpm=30_000, otpm=OTPM))  # 10 requests per second
    lease = prepare(acct, "a")
    assert acct.try_admit(lease, 0.0)
    acct.settle(lease, input_tokens=1_000, output_tokens=400, now=0.5)
    assert acct.buckets is not None
    for at in (1.0, 5.0, 9.0):
        resync(acct, snapshot(requests=(600, 10)), at)
    assert acct.buckets[0].capacity == 10  # requests `remaining` is exact: no rounding slack


def test_two_upper_bounds_confirm_the_smaller_never_below_the_floor() -> None:
    learner = CapacityLearner(90_000.0)
    assert learner.upper_bound(2_500.0, 10.0) is None  # one bound alone is not trusted
    assert learner.upper_bound(1_600.0, 20.0) == 1_600.0  # both hold: the tighter one
    learner = CapacityLearner(90_000.0)
    learner.lower_bound(1_500.0)  # the server once showed ~2,000: it holds >= 1,500
    learner.upper_bound(2_500.0, 10.0)
    assert learner.upper_bound(1_000.0, 20.0) == 1_500.0
    assert learner.lower_bound(3_000.0) == 3_000.0  # a higher reading heals at once
