"""Feedback from the server, applied to a `ModelAccount`: resync from headers, react to 429s.

**Resync** (`resync`). Each response's `-remaining` headers pull the local buckets *down*
to what the server could still hold; a reading never raises a local level.

- Requests `remaining` is exact. Token `remaining` is rounded to the nearest thousand, so
  the server may hold up to 500 more than shown: the ceiling is `remaining + 500`. (Using
  `remaining - 500` would drain up to 500 tokens per response for nothing; the +500 case
  can over-admit by at most 500 tokens once, which the next reading corrects.)
- Our own in-flight reservations: local buckets charge a lease's whole reservation at
  admission. Input tokens (and, in legacy mode, `max_tokens`) are charged by the server at
  admission too, so a reading already includes them. In `actual` mode the server charges
  output only as it is generated, so a reading does not yet include the output our
  running leases will still produce: reserved minus what `Lease.progress` reported or
  their time on the wire shows. The server refills while they produce it, so only the
  part the refill cannot keep up with (`StreamModel.deficit`) is subtracted from the
  output ceiling; on a key that shows other clients' traffic (`sharing.SharedKey`), the
  whole reservation less half a typical call's refill. Leases admitted locally but not
  yet seen by the server make a reading too high, which is harmless for a pull-down.
  The server charged each running call its real input, so a pull-down also absorbs what
  we over-estimated for them: such a call refunds no input when it settles
  (`ModelAccount.settle`), or our bucket would end up above the server's.
- Limits: `-limit` headers install limits for a class that has none configured, and
  lower configured limits that exceed the server's (after two equal readings); a
  configured limit below the server's is kept (it may be a deliberate share).
- Burst capacity (`CapacityLearner`): a reading taken while our own bucket is full shows
  the server's full bucket, i.e. its true capacity within the rounding (the low end of
  it is learned where the rounding is a small share, `_full_reading_bound`); so does a
  reading below what the server's bucket must hold by refill since the previous reading,
  less our grants since
  (`_capped_at`: our own bucket, sized from the configured limits, may never be full when
  the server's burst is far smaller); any reading is a lower bound.
- The combined `tokens-*` reading is not used: without workspace limits it is input +
  output, which the two per-bucket readings already bound.

**429** (`rate_limited`). One coordinated pause per model class until `retry-after`
(extended, never stacked, by concurrent 429s), then a ramp. The bucket the server named
as short is drained to what the server says it holds (0 when it says nothing). A 429 for a
lease admitted while our bucket still had room to spare is evidence that the server's
burst is smaller than ours: at most what we had drawn from a full bucket by that grant.
"""

from __future__ import annotations

import math

from agents.errors import LLMError
from agents.ratelimit import HeaderBucket, RateLimitSnapshot
from orchestrator.budget.account import ModelAccount
from orchestrator.budget.lease import Lease
from orchestrator.budget.ramp import BackoffConfig
from orchestrator.limits import ModelLimits

__all__ = ["TOKEN_SLACK", "rate_limited", "resync"]

#: How much more than a token `remaining` header the server may hold (half the rounding).
TOKEN_SLACK = RateLimitSnapshot.TOKEN_ROUNDING / 2

_HEADERS: tuple[HeaderBucket, HeaderBucket, HeaderBucket] = (
    "requests",
    "input_tokens",
    "output_tokens",
)
_SLACK = (0.0, TOKEN_SLACK, TOKEN_SLACK)
_LIMIT_NAMES = {
    "requests": 0,
    "input_tokens": 1,
    "input-tokens": 1,
    "output_tokens": 2,
    "output-tokens": 2,
}


def _learn_limits(account: ModelAccount, snapshot: RateLimitSnapshot, now: float) -> bool:
    limits = tuple(snapshot.reading(h).limit for h in _HEADERS)
    if any(v is None or v <= 0 for v in limits):
        return False
    rpm, itpm, otpm = (int(v) for v in limits if v is not None)
    current = account.limits
    if current is None:
        account.set_limits(ModelLimits(rpm=rpm, itpm=itpm, otpm=otpm), now)
        return True
    seen = (rpm, itpm, otpm)
    if rpm >= current.rpm and itpm >= current.itpm and otpm >= current.otpm:
        account.limit_vote = None
        return False
    if account.limit_vote != seen:
        account.limit_vote = seen
        return False
    account.limit_vote = None

    def burst(configured: int | None, limit: int) -> int | None:
        return None if configured is None else min(configured, limit)

    rpm, itpm, otpm = min(rpm, current.rpm), min(itpm, current.itpm), min(otpm, current.otpm)
    account.set_limits(
        ModelLimits(
            rpm=rpm,
            itpm=itpm,
            otpm=otpm,
            rpm_burst=burst(current.rpm_burst, rpm),
            itpm_burst=burst(current.itpm_burst, itpm),
            otpm_burst=burst(current.otpm_burst, otpm),
        ),
        now,
    )
    return True


#: How far above our estimate a call's real charge may be (input is estimated locally).
_ESTIMATE_TOLERANCE = (0.0, 0.25, 0.0)


def _capped_at(account: ModelAccount, index: int, least: float, upper: float, now: float) -> float:
    """An upper bound on the server's capacity of bucket `index` if its refill was capped.

    Since the previous reading the server's bucket gained the refill and lost at most what
    we granted (allowing for estimates below the real charge): absent a cap it holds at
    least the previous reading (less the rounding) plus the refill, less those grants. A
    reading (`upper`: the most it may hold now) below that shows the bucket hit its
    capacity in between, and since then it lost at most our grants: capacity <= upper +
    grants. Grants are counted from the reading *before* the previous one, so requests
    still on their way to the server at the previous reading are charged too. Returns inf
    without evidence (no previous reading, or output still being produced by running
    streams in actual mode). Other clients on the key can fake such evidence; the learner
    waits for a second bound and heals on the next higher reading.
    """
    previous = account.last_reading[index]
    buckets = account.buckets
    if previous is None or buckets is None or least < 0:
        return math.inf
    if index == 2 and account.mode == "actual" and account.in_flight > 0:
        return math.inf  # running streams are charged output as they produce it
    at, held, _, granted = previous
    if now <= at:
        return math.inf
    drawn = max(0.0, account.granted[index] - granted) * (1.0 + _ESTIMATE_TOLERANCE[index])
    if upper + drawn < held + buckets[index].rate * (now - at):
        return upper + drawn
    return math.inf


def _full_reading_bound(remaining: int, slack: float, capacity: float) -> float:
    """The capacity to learn from a reading of a full bucket (see the module doc).

    The server shows its capacity rounded: anything within `slack` of `remaining`. Where
    that is below ours, take the low end when `slack` is at most an eighth of the
    reading: the upper end (W8's true 7,500 reads "8,000") lets a drained bucket admit
    up to twice the rounding more than the server holds, a 429 each time, and the low
    end costs little burst. On smaller readings the low end could halve the burst, so
    the upper end is kept there.
    """
    upper = remaining + slack
    if slack > 0 and upper < capacity and remaining >= 8 * slack:
        return remaining - slack
    return upper


def resync(account: ModelAccount, snapshot: RateLimitSnapshot, now: float) -> bool:
    """Pull the account's buckets down to the server's reading.

    Returns True if the reading installed or lowered the class's limits (waiting leases
    may then exceed them).
    """
    requests, inputs, outputs = snapshot.requests, snapshot.input_tokens, snapshot.output_tokens
    if (
        requests.remaining is None
        and inputs.remaining is None
        and outputs.remaining is None
        and (requests.limit is None or inputs.limit is None or outputs.limit is None)
    ):
        return False  # no headers (a proxy stripped them, or a scripted client): nothing to learn
    learned = _learn_limits(account, snapshot, now)
    buckets = account.buckets
    if buckets is None:
        return learned
    for i in (0, 1, 2):
        reading = snapshot.reading(_HEADERS[i])
        remaining = reading.remaining
        if remaining is None or remaining < 0:
            continue
        if reading.limit is not None and remaining > reading.limit:
            continue  # garbled: the server never holds more than its limit
        bucket = buckets[i]
        slack = _SLACK[i]
        upper = remaining + slack
        level = bucket.level(now)
        if level >= bucket.capacity - max(slack, 1e-9 * bucket.capacity):
            account.learn_upper(i, _full_reading_bound(remaining, slack, bucket.capacity), now)
        else:
            bound = _capped_at(account, i, remaining - slack, upper, now)
            if bound < bucket.capacity:
                account.learn_upper(i, bound, now)
        previous = account.last_reading[i]
        before = previous[2] if previous is not None else 0.0
        account.last_reading[i] = (now, remaining - slack, account.granted[i], before)
        if remaining - slack > 0:
            account.learn_lower(i, remaining - slack, now)
        ceiling = upper
        if i < 2:
            # A server short of our level: someone else's traffic (`sharing.SharedKey`).
            account.shared.observe(i, bucket.level(now) - upper, now)
        if i == 2 and account.mode == "actual":
            # Output our running calls will still produce is not in the server's reading
            # yet, but the server refills while they produce it: subtract only what the
            # refill cannot keep up with (`StreamModel.deficit`). On a shared key the
            # refill is not ours alone: keep the running calls' reservations out, less
            # the refill over half a typical call.
            if account.shared.shared(now):
                horizon = 0.5 * (account.call_seconds or 0.0)
                ceiling -= max(0.0, account.pending_output - bucket.rate * horizon)
            else:
                ceiling -= account.streams.deficit(now, bucket.rate)
        account.pulled[i] += bucket.pull_down(ceiling, now)
    return learned


def _pause_for(
    account: ModelAccount, error: LLMError, lease: Lease | None, index: int | None, default: float
) -> float:
    if error.retry_after is not None and error.retry_after >= 0:
        return error.retry_after
    buckets = account.buckets
    if index is not None and lease is not None and buckets is not None:
        # The drained bucket needs this long to cover the failed call again.
        bucket = buckets[index]
        return min(lease.reserved[index], bucket.capacity) / bucket.rate
    return default


def rate_limited(
    account: ModelAccount,
    error: LLMError,
    now: float,
    *,
    lease: Lease | None = None,
    backoff: BackoffConfig | None = None,
) -> bool:
    """Apply a RATE_LIMITED 429: resync, drain the short bucket, learn, pause and ramp.

    Returns True if the error's headers installed or lowered the class's limits.
    """
    backoff = backoff if backoff is not None else BackoffConfig()
    account.rate_limited += 1
    learned = resync(account, error.ratelimit, now) if error.ratelimit is not None else False
    index = _LIMIT_NAMES.get(error.limit) if error.limit is not None else None
    buckets = account.buckets
    if index is not None and buckets is not None:
        bucket = buckets[index]
        remaining = None
        if error.ratelimit is not None:
            remaining = error.ratelimit.reading(_HEADERS[index]).remaining
        if remaining is not None:
            floor = max(0.0, remaining - _SLACK[index])
        elif error.retry_after is not None and error.retry_after >= 0 and lease is not None:
            # No reading, but the server says when to retry: the bucket holds at least
            # what makes this call fit by then. Draining it to empty would add the whole
            # refill (a minute at OTPM 800) on top of the pause for one spurious 429.
            need = min(lease.reserved[index], bucket.capacity)
            floor = max(0.0, need - bucket.rate * error.retry_after)
        else:
            floor = 0.0
        account.pulled[index] += bucket.pull_down(floor, now)
        if lease is not None and lease.charged and lease.drawn is not None:
            account.learn_upper(index, lease.drawn[index], now)
    pause = _pause_for(account, error, lease, index, backoff.default_pause)
    cfg = account.ramp_config
    account.pause(now + pause, fraction=cfg.start_fraction, duration=cfg.duration)
    return learned
