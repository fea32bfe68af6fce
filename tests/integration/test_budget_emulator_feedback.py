"""The budget's feedback from the server, end to end: resync when another client shares the
key, one coordinated pause per 429, and learning a burst smaller than the limit.
Harness: `budget_emulator_helpers`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx2
import pytest
from budget_emulator_helpers import (
    KEY,
    LIMITS,
    MODEL,
    TIME_SLACK,
    Job,
    Recorder,
    assert_all_succeeded,
    bound,
    class_stats,
    client_on,
    emulator_config,
    emulator_rejections,
    make_jobs,
    report,
    run_jobs,
)
from structlog.testing import capture_logs

from agents.errors import LLMError
from orchestrator.budget import Budget
from orchestrator.call import BudgetedCaller
from orchestrator.emulator import BASE_URL, Emulator, StreamingASGITransport
from orchestrator.limits import AccountingMode, ModelLimits

pytestmark = pytest.mark.looptime

# -- another client on the same key ----------------------------------------------------------

#: The other client sends one of these every `every` seconds for the first `STOP` seconds.
NOISE = Job("noise", input_tokens=3_000, output_tokens=200)
STOP = 120.0


async def hammer(recorder: Recorder, *, every: float, until: float) -> None:
    """A budget-less client on the same key: fire and forget at a fixed rate, no retries."""
    loop = asyncio.get_running_loop()
    async with client_on(recorder) as client:

        async def send() -> None:
            with contextlib.suppress(LLMError):  # its 429s are counted by its recorder
                await client.create(NOISE.request())

        tasks = []
        with capture_logs():
            while loop.time() < until:
                tasks.append(asyncio.create_task(send()))
                await asyncio.sleep(every)
            await asyncio.gather(*tasks)


async def naive(recorder: Recorder, jobs: Sequence[Job], *, concurrency: int) -> None:
    """Today's usual client: a request-count limiter and the SDK's own retries, each call
    waiting out its own `retry-after`."""
    http = httpx2.AsyncClient(transport=StreamingASGITransport(recorder), base_url=BASE_URL)
    sdk = anthropic.AsyncAnthropic(
        api_key=KEY, base_url=BASE_URL, http_client=http, max_retries=1_000
    )
    slots = asyncio.Semaphore(concurrency)

    async def one(job: Job) -> None:
        body: Any = job.request().to_api()
        async with slots:
            await sdk.messages.create(**body)

    async with sdk:
        await asyncio.gather(*(one(job) for job in jobs))


@pytest.mark.parametrize(
    ("every", "most_429s"),
    [
        # 6,000 input tokens a second: 80% of the ITPM (and of the OTPM). 0 or 1 seen: the
        # other client's streams can empty the output bucket between two of our readings
        # (1 since a fan-out's kind is sized from its first answers in actual mode).
        pytest.param(0.5, 1, id="other-client-takes-80pct"),
        # 160%: the other client alone overdraws the key, so some 429s cannot be avoided;
        # 16 seen (122 for the other client itself, 100+ for a naive client at 80%).
        pytest.param(0.25, 20, id="other-client-overdraws"),
    ],
)
async def test_resync_with_a_second_client_on_the_key(every: float, most_429s: int) -> None:
    emulator = Emulator(emulator_config())
    mine, other = Recorder(emulator.app), Recorder(emulator.app)
    budget = Budget(LIMITS)
    jobs = make_jobs(150, seed=2)
    loop = asyncio.get_running_loop()
    noise = asyncio.create_task(hammer(other, every=every, until=loop.time() + STOP))
    async with client_on(mine) as client:
        result = await run_jobs(BudgetedCaller(client, budget), jobs)
    await noise

    assert_all_succeeded(result, jobs)
    stop = result.started + STOP
    late = [round(a.at - result.started, 3) for a in mine.rejected if a.at >= stop]
    stats = class_stats(budget)
    assert stats.input_tokens is not None and stats.output_tokens is not None
    report(
        f"shared key every={every}s",
        makespan=result.makespan,
        budget_429s=len(mine.rejected),
        budget_429s_after_stop=len(late),
        other_requests=len(other.arrivals),
        other_429s=len(other.rejected),
        pulled_input=stats.input_tokens.pulled_down,
        pulled_output=stats.output_tokens.pulled_down,
    )
    assert len(mine.rejected) <= most_429s
    assert not late, late  # once the other client stops, the budget is back in sync
    assert not mine.early_arrivals()
    # The headers showed capacity the budget had not spent itself: the other client's.
    assert stats.input_tokens.pulled_down > 50 * NOISE.input_tokens
    assert stats.output_tokens.pulled_down > 0
    assert result.makespan > STOP  # the jobs really had to share the key


async def test_a_naive_client_on_a_shared_key_gets_far_more_429s() -> None:
    # The same jobs and the same other client (80% of the key) as above, sent the usual
    # way, against the budget's figures for that run.
    emulator = Emulator(emulator_config())
    naive_recorder, other = Recorder(emulator.app), Recorder(emulator.app)
    jobs = make_jobs(150, seed=2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    noise = asyncio.create_task(hammer(other, every=0.5, until=started + STOP))
    await naive(naive_recorder, jobs, concurrency=16)
    await noise
    naive_makespan = loop.time() - started

    emulator = Emulator(emulator_config())
    mine, other = Recorder(emulator.app), Recorder(emulator.app)
    started = loop.time()
    noise = asyncio.create_task(hammer(other, every=0.5, until=started + STOP))
    async with client_on(mine) as client:
        result = await run_jobs(BudgetedCaller(client, Budget(LIMITS)), jobs)
    await noise

    assert_all_succeeded(result, jobs)
    report(
        "shared key, naive vs budget",
        naive_makespan=naive_makespan,
        naive_429s=len(naive_recorder.rejected),
        naive_requests=len(naive_recorder.arrivals),
        budget_makespan=result.makespan,
        budget_429s=len(mine.rejected),
    )
    assert len(naive_recorder.rejected) >= 100
    assert 10 * len(mine.rejected) < len(naive_recorder.rejected)
    # Waiting for capacity instead of bouncing off the limits costs no time.
    assert result.makespan <= 1.25 * naive_makespan


# -- one pause for everyone ------------------------------------------------------------------


async def test_an_injected_429_pauses_every_worker_until_retry_after() -> None:
    faults = {"rate_limit_429": 0.03, "retry_after_s": 7}
    emulator = Emulator(emulator_config(faults=faults))
    recorder = Recorder(emulator.app)
    budget = Budget(LIMITS)
    jobs = make_jobs(200, seed=3)
    async with client_on(recorder) as client:
        caller = BudgetedCaller(client, budget)
        result = await run_jobs(caller, jobs)

    assert_all_succeeded(result, jobs)
    rejected = recorder.rejected
    report(
        "injected 429s",
        makespan=result.makespan,
        injected=len(rejected),
        at=[round(a.at - result.started, 1) for a in rejected],
    )
    assert len(rejected) >= 3
    assert all(a.retry_after == 7 for a in rejected)
    # Nobody sent anything until retry-after had passed after each 429 ...
    assert not recorder.early_arrivals(), recorder.early_arrivals()
    # ... though workers were waiting: sending resumed as soon as it had passed.
    for a in rejected:
        resumed = min(b.at for b in recorder.arrivals if b.at > a.at + TIME_SLACK)
        assert resumed - a.at == pytest.approx(7.0, abs=0.01)
    # ... and the retries then did not run into the real limits.
    assert emulator_rejections(emulator)["rate_limit"] == {}
    assert class_stats(budget).rate_limited == len(rejected)


async def test_limits_configured_too_high_are_lowered_from_the_headers() -> None:
    # The server's limits are two thirds of what the budget was told.
    server = ModelLimits(rpm=1_000, itpm=300_000, otpm=20_000)
    config = emulator_config(server)
    emulator = Emulator(config)
    recorder = Recorder(emulator.app)
    budget = Budget(LIMITS)
    jobs = make_jobs(300, seed=8)
    async with client_on(recorder) as client:
        result = await run_jobs(BudgetedCaller(client, budget), jobs)

    assert_all_succeeded(result, jobs)
    rejected = recorder.rejected
    last = max((a.at - result.started for a in rejected), default=None)
    lb = bound(jobs, config, "actual-throttle")
    report(
        "limits too high",
        makespan=result.makespan,
        lower_bound=lb.value,
        ratio=lb.ratio(result.makespan),
        emulator_429s=len(rejected),
        last_429_s=last,
    )
    # The `-limit` headers lowered the configured limits ...
    learned = budget.limits(MODEL)
    assert learned is not None
    assert (learned.rpm, learned.itpm, learned.otpm) == (server.rpm, server.itpm, server.otpm)
    # ... before the surplus could be spent (the start ramp grants a quarter at first):
    # at most a few 429s, early, each followed by one pause.
    assert len(rejected) <= 10
    assert last is None or last < 60.0
    assert not recorder.early_arrivals(), recorder.early_arrivals()
    assert lb.ratio(result.makespan) <= 1.2


# -- a true burst smaller than the limit ---------------------------------------------------------

#: Server bursts of one second's refill (limit / 60): 10 requests, 10k input, 2k output.
BURST_LIMITS = ModelLimits(rpm=600, itpm=600_000, otpm=120_000)
BURST = {"burst_fraction": 1 / 60}
LEARNING_S = 15.0


def burst_jobs(streaming: bool | None = None) -> list[Job]:
    # Every call fits in the small burst (legacy reserves max_tokens: 800 <= 2,000).
    return make_jobs(
        300, seed=4, inputs=(1_000, 4_000), outputs=(100, 600), max_tokens=800, streaming=streaming
    )


@dataclass(frozen=True, slots=True)
class BurstRun:
    recorder: Recorder
    budget: Budget
    makespan: float
    lower_bound: float


async def run_burst(accounting: AccountingMode, jobs: Sequence[Job]) -> BurstRun:
    config = emulator_config(BURST_LIMITS, burst=BURST, accounting=accounting)
    emulator = Emulator(config)
    recorder = Recorder(emulator.app)
    budget = Budget(BURST_LIMITS, mode=accounting)  # the nominal limits, bursts unknown
    async with client_on(recorder) as client:
        result = await run_jobs(BudgetedCaller(client, budget), jobs)
    assert_all_succeeded(result, jobs)
    lb = bound(jobs, config, "legacy" if accounting == "legacy" else "actual-throttle")
    return BurstRun(recorder, budget, result.makespan, lb.value)


@pytest.mark.parametrize("accounting", ["legacy", "actual"])
async def test_smaller_true_burst_costs_only_a_short_learning_episode(
    accounting: AccountingMode,
) -> None:
    run = await run_burst(accounting, burst_jobs())
    rejected = run.recorder.rejected
    start = run.recorder.arrivals[0].at
    stats = class_stats(run.budget)
    assert stats.input_tokens is not None and stats.output_tokens is not None
    report(
        f"small burst {accounting}",
        makespan=run.makespan,
        lower_bound=run.lower_bound,
        ratio=run.makespan / run.lower_bound,
        emulator_429s=len(rejected),
        last_429_s=max((a.at - start for a in rejected), default=None),
        input_capacity=stats.input_tokens.capacity,
        output_capacity=stats.output_tokens.capacity,
    )
    assert all(a.at - start < LEARNING_S for a in rejected), [a.at - start for a in rejected]
    assert len(rejected) <= 50
    assert not run.recorder.early_arrivals(), run.recorder.early_arrivals()
    # The budget now holds far less than the nominal minute in the bucket that was short.
    short = stats.output_tokens if accounting == "legacy" else stats.input_tokens
    assert short.capacity <= short.configured_capacity / 10


@pytest.mark.parametrize(
    "accounting",
    [
        "legacy",
        pytest.param(
            "actual",
            marks=pytest.mark.xfail(
                strict=True,
                reason=(
                    "actual mode: resync subtracts the in-flight output the refill won't cover "
                    "from the server's output `remaining`; with a burst of ~2,000 and no learned "
                    "output burst this still throttles concurrency (makespan 2.3x the bound, "
                    "was 4.2x before the refill allowance)"
                ),
            ),
        ),
    ],
)
async def test_smaller_true_burst_keeps_the_makespan_near_the_bound(
    accounting: AccountingMode,
) -> None:
    run = await run_burst(accounting, burst_jobs())
    report(
        f"small burst makespan {accounting}",
        makespan=run.makespan,
        lower_bound=run.lower_bound,
        ratio=run.makespan / run.lower_bound,
        emulator_429s=len(run.recorder.rejected),
    )
    assert run.makespan <= 2.0 * run.lower_bound


@pytest.mark.parametrize(
    "streaming",
    [
        False,
        pytest.param(
            True,
            marks=pytest.mark.xfail(
                strict=True,
                reason=(
                    "a stream's rate-limit snapshot is taken at its start but resynced at "
                    "settlement (BudgetedCaller settles with response.ratelimit): by then the "
                    "local bucket has refilled, so the stale reading (which still includes the "
                    "stream's own legacy reservation) is taken for a full server bucket and "
                    "the learned burst falls below the true one (1,500 < 2,000)"
                ),
            ),
        ),
    ],
)
async def test_learned_burst_is_never_below_the_true_burst(streaming: bool) -> None:
    run = await run_burst("legacy", burst_jobs(streaming))
    output = class_stats(run.budget).output_tokens
    assert output is not None
    true_burst = BURST_LIMITS.otpm / 60
    report(f"learned burst streaming={streaming}", learned=output.capacity, true=true_burst)
    assert true_burst <= output.capacity <= 2 * true_burst
