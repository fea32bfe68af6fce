"""The pure bucket arithmetic, against a small independent reference model."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.emulator.buckets import LimitBuckets, TokenBucket
from orchestrator.limits import AccountingMode, BucketKind, ModelLimits


def test_bucket_refills_continuously_up_to_capacity() -> None:
    bucket = TokenBucket.full(capacity=60, rate=1.0, now=0.0)
    bucket.take(60, 0.0)
    assert bucket.level_at(0.0) == 0
    assert bucket.level_at(10.0) == pytest.approx(10)
    assert bucket.level_at(1000.0) == 60
    assert bucket.full_at(10.0) == pytest.approx(60.0)


def test_retry_after_is_whole_seconds_and_exact() -> None:
    bucket = TokenBucket.full(capacity=100, rate=10.0, now=0.0)
    bucket.take(100, 0.0)
    assert bucket.retry_after(25, 0.0) == 3  # 2.5 s, rounded up
    assert not bucket.covers(25, 2.4)
    assert bucket.covers(25, 2.5)
    assert bucket.retry_after(0.001, 0.0) == 1  # never 0


def test_debt_is_repaid_by_refill() -> None:
    bucket = TokenBucket.full(capacity=100, rate=10.0, now=0.0)
    bucket.take(150, 0.0)
    assert bucket.level_at(0.0) == -50
    assert bucket.retry_after(1, 0.0) == 6  # 51 tokens at 10/s
    assert bucket.covers(1, 5.1)


def test_amount_above_capacity_waits_for_a_full_bucket() -> None:
    bucket = TokenBucket.full(capacity=10, rate=1.0, now=0.0)
    bucket.take(10, 0.0)
    assert bucket.seconds_until(50, 0.0) == pytest.approx(10.0)


def test_refund_never_exceeds_capacity() -> None:
    bucket = TokenBucket.full(capacity=10, rate=1.0, now=0.0)
    bucket.take(3, 0.0)
    bucket.give(100, 1.0)
    assert bucket.level_at(1.0) == 10


def test_admission_reports_the_longest_shortfall_and_takes_nothing() -> None:
    limits = ModelLimits(rpm=60, itpm=600, otpm=60)
    buckets = LimitBuckets.new(limits, 0.0)
    assert buckets.admit(now=0.0, input_tokens=500, max_tokens=50, accounting="legacy") is None
    shortfall = buckets.admit(now=0.0, input_tokens=300, max_tokens=40, accounting="legacy")
    assert shortfall is not None
    # input: 200 short at 10/s = 20 s; output: 30 short at 1/s = 30 s
    assert shortfall.kind is BucketKind.OUTPUT
    assert shortfall.retry_after == 30
    assert shortfall.limit == 60
    assert buckets.requests.level_at(0.0) == 59
    assert buckets.input.level_at(0.0) == 100


def test_actual_mode_admits_while_output_holds_a_token() -> None:
    buckets = LimitBuckets.new(ModelLimits(rpm=100, itpm=1000, otpm=60), 0.0)
    assert buckets.admit(now=0.0, input_tokens=10, max_tokens=10_000, accounting="actual") is None
    assert buckets.output.level_at(0.0) == 60  # nothing reserved
    buckets.output.take(200, 0.0)
    shortfall = buckets.admit(now=0.0, input_tokens=10, max_tokens=1, accounting="actual")
    assert shortfall is not None and shortfall.kind is BucketKind.OUTPUT
    assert shortfall.retry_after == 141  # from -140 to +1 at 1/s


@dataclass
class _RefBucket:
    """The reference: a level and a timestamp, refilled linearly and clipped."""

    cap: float
    per_second: float
    level: float
    at: float = 0.0

    def advance(self, t: float) -> None:
        self.level = min(self.cap, self.level + (t - self.at) * self.per_second)
        self.at = t


_requests = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.0, 7.5, 30.0]),  # dt since the previous request
        st.integers(min_value=0, max_value=700),  # ITPM-counted input
        st.integers(min_value=1, max_value=300),  # max_tokens
        st.integers(min_value=0, max_value=300),  # actual output (capped at max_tokens)
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    requests=_requests,
    accounting=st.sampled_from(["actual", "legacy"]),
    burst=st.sampled_from([None, 0.5]),
)
def test_admission_matches_reference_model(
    requests: list[tuple[float, int, int, int]], accounting: AccountingMode, burst: float | None
) -> None:
    """Admit/reject decisions and retry-after of `LimitBuckets` equal a reference model.

    The reference follows the facts file directly: capacity = burst (default the limit),
    refill limit/60 per second; a request needs 1 request and its input; legacy needs
    max_tokens of output and refunds the unused part when done (instantly, here),
    actual needs one token and is charged its real output.
    """
    rpm, itpm, otpm = 30, 3000, 600
    caps = {
        "requests": rpm * (burst or 1),
        "input": itpm * (burst or 1),
        "output": otpm * (burst or 1),
    }
    limits = ModelLimits(
        rpm=rpm,
        itpm=itpm,
        otpm=otpm,
        rpm_burst=int(caps["requests"]),
        itpm_burst=int(caps["input"]),
        otpm_burst=int(caps["output"]),
    )
    buckets = LimitBuckets.new(limits, 0.0)
    ref = {
        "requests": _RefBucket(caps["requests"], rpm / 60, caps["requests"]),
        "input": _RefBucket(caps["input"], itpm / 60, caps["input"]),
        "output": _RefBucket(caps["output"], otpm / 60, caps["output"]),
    }
    now = 0.0
    for dt, input_tokens, max_tokens, output in requests:
        now += dt
        for bucket in ref.values():
            bucket.advance(now)
        output = min(output, max_tokens)
        need = {
            "requests": 1,
            "input": input_tokens,
            "output": max_tokens if accounting == "legacy" else 1,
        }
        short = {k: need[k] - ref[k].level for k in ref if ref[k].level + 1e-6 < need[k]}
        waits = {
            k: max(
                1, math.ceil((min(need[k], ref[k].cap) - ref[k].level) / ref[k].per_second - 1e-9)
            )
            for k in short
        }
        shortfall = buckets.admit(
            now=now, input_tokens=input_tokens, max_tokens=max_tokens, accounting=accounting
        )
        if short:
            assert shortfall is not None, (now, need, {k: b.level for k, b in ref.items()})
            assert shortfall.retry_after == max(waits.values())
            continue
        assert shortfall is None, (now, need, shortfall)
        ref["requests"].level -= 1
        ref["input"].level -= input_tokens
        ref["output"].level -= output
        if accounting == "legacy":
            # admit reserved max_tokens; the request ends at once and refunds the rest
            buckets.output.give(max_tokens - output, now)
        else:
            buckets.output.take(output, now)
        for name, real in (
            ("requests", buckets.requests),
            ("input", buckets.input),
            ("output", buckets.output),
        ):
            assert real.level_at(now) == pytest.approx(ref[name].level, abs=1e-6)
